import ij.CompositeImage;
import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.Macro;
import ij.WindowManager;
import ij.gui.ImageWindow;
import ij.gui.Overlay;
import ij.gui.Roi;
import ij.macro.Interpreter;
import ij.measure.Calibration;
import ij.process.ImageProcessor;
import ij.process.LUT;
import java.awt.GraphicsEnvironment;

/**
 * Where the N2V plugins meet Python. The plugins only gather options and move pixels; all N2V
 * logic is in Python, reached one of two ways:
 * <ul>
 * <li>a handler that Python installed in this JVM (JPype: imagej-n2v gui / macro), or</li>
 * <li>otherwise (ImageJ or Fiji started the usual way) a Python worker process, see N2V_Worker.</li>
 * </ul>
 * A command's options come from the macro (Macro.getOptions()), or from a dialog whose fields
 * Python describes, so the Recorder records a run(...) line that replays.
 */
public class N2V_Bridge {

    /** Implemented in Python (imagej_n2v.imagej.bridge.commands) when Python started this JVM. */
    public interface Handler {
        /** The command's dialog fields: see N2V_Dialog.ask for the format. */
        String fields(String command);

        /** Why the command cannot take this image (null: it can): asked before its dialog opens. */
        String refusal(String command, ImagePlus image);

        /** What the command's options will cost here, in words (the Train dialog's cost line). */
        String cost(String command, String options);

        /** Runs a command on an image (null when none is open); returns null on success or the error sentence. */
        String run(String command, ImagePlus image, String options);
    }

    /** A problem to report as one sentence (the command's name is put in front). */
    static final class Failure extends Exception {
        Failure(String sentence) {
            super(sentence);
        }
    }

    private static volatile Handler handler;
    private static volatile int failures;
    private static volatile boolean dialogs = true;

    public static void setHandler(Handler newHandler) {
        handler = newHandler;
    }

    /** Python's headless runs turn dialogs off: a command without options then fails instead of waiting for a click. */
    public static void setDialogs(boolean shown) {
        dialogs = shown;
    }

    /** How many commands failed since the JVM started: lets a caller see failures a macro ignored. */
    public static int failures() {
        return failures;
    }

    /** Whether no one can answer a dialog: ImageJ's -batch runs (no ImageJ window) and Fiji's --headless. */
    static boolean batch() {
        return GraphicsEnvironment.isHeadless() || (handler == null && IJ.getInstance() == null);
    }

    /**
     * A quality warning the user can dismiss (menu runs only: the callers check), in a window that
     * leaves ImageJ's menus and the command going (N2V_Warning); never in batch or headless runs,
     * where no one could dismiss it.
     */
    public static void warningDialog(String command, String text) {
        if (!batch() && dialogs)
            N2V_Warning.show(command + ": quality warning", text);
    }

    /** Runs a command the way its plugin was called: from a macro's options, or through a dialog. */
    static void run(String command) {
        // Macro.getOptions() is only set on ImageJ's macro threads: read it here, in the plugin's run().
        String options = Macro.getOptions();
        ImagePlus image = WindowManager.getCurrentImage();
        Handler inJvm = handler;
        // N2V Train needs no open image: its inputs field names TIFF files and folders
        boolean asked = options == null && (image != null || command.equals("N2V Train")) && dialogs && !batch();
        try {
            if (asked) {
                String spec = inJvm != null ? fields(inJvm, command, image) : N2V_Worker.fields(command, image);
                options = N2V_Dialog.ask(command, spec, inJvm != null ? given -> inJvm.cost(command, given)
                        : given -> N2V_Worker.cost(command, given));
                if (options == null)
                    return; // cancelled
            }
            if (options == null)
                options = "";
            if (inJvm == null) {
                N2V_Worker.execute(command, image, options, asked);
            } else {
                String error = inJvm.run(command, image, options);
                if (error != null && error.length() > 0)
                    throw new Failure(error);
            }
            if (command.equals("N2V Train") && !batch())
                N2V_Dialog.trained(options);
        } catch (Failure failure) {
            fail(command, failure.getMessage());
        } finally {
            if (asked && command.equals("N2V Train"))
                giveBack(image);
        }
    }

    /** The dialog spec from the in-JVM handler, once it has said that it can take the image. */
    private static String fields(Handler inJvm, String command, ImagePlus image) throws Failure {
        String refusal = inJvm.refusal(command, image);
        if (refusal != null && refusal.length() > 0)
            throw new Failure(refusal);
        return inJvm.fields(command);
    }

    /**
     * Makes the user's image the current one again after training, whose loss plot window took its
     * place: the next command (N2V Denoise from the menu) is meant for the image, not the plot.
     */
    private static void giveBack(ImagePlus image) {
        ImageWindow window = image == null ? null : image.getWindow();
        if (window == null || WindowManager.getCurrentWindow() == window)
            return;
        WindowManager.setCurrentWindow(window);
        window.toFront();
    }

    /**
     * The denoised image: planes in ImageJ order (C fastest, then Z, then T) shaped like {@code like}
     * (its channels and slices; {@code frames} names the input's frames kept, 1-based and
     * comma-separated, "" for all), with what the input carries: its calibration, lookup table and
     * display range or, for a composite, its mode and channel colours, slice labels, properties, ROI, overlay (only when
     * every frame is kept), and Info with {@code info} added below (Image > Show Info, saved in
     * TIFFs). A 32-bit result of an 8 or 16-bit image with a straight-line value calibration (signed
     * 16-bit is one) holds the calibrated values, as Image > Type > 32-bit gives. What cannot be kept
     * is said in the Log.
     */
    public static ImagePlus resultImage(ImageStack stack, ImagePlus like, String title, String frames, String info) {
        int channels = like.getNChannels(), slices = like.getNSlices();
        int[] kept = keptFrames(frames, like.getNFrames());
        if (stack.getSize() != channels * slices * kept.length)
            throw new IllegalArgumentException(stack.getSize() + " planes for " + channels + " channels x " + slices
                    + " slices x " + kept.length + " frames");
        Calibration calibration = like.getCalibration().copy();
        double[] line = stack.getBitDepth() == 32 && like.getBitDepth() != 32
                && calibration.getFunction() == Calibration.STRAIGHT_LINE ? calibration.getCoefficients() : null;
        ImageStack input = like.getStack();
        int n = 1;
        for (int t : kept)
            for (int z = 1; z <= slices; z++)
                for (int c = 1; c <= channels; c++, n++) {
                    stack.setSliceLabel(input.getSliceLabel(like.getStackIndex(c, z, t)), n);
                    if (line != null && line.length >= 2) {
                        ImageProcessor plane = stack.getProcessor(n);
                        plane.multiply(line[1]);
                        plane.add(line[0]);
                    }
                }
        if (line != null) {
            calibration.disableDensityCalibration();
            IJ.log(like.getTitle() + ": its value calibration (" + line[0] + " + " + line[1]
                    + " x raw) is applied: the 32-bit result holds calibrated values.");
        } else if (stack.getBitDepth() == 32 && like.getBitDepth() != 32 && calibration.calibrated()) {
            IJ.log(like.getTitle() + ": its value calibration function is not kept in a 32-bit result; "
                    + "use bit_depth=16 to keep it.");
        }
        ImagePlus result = new ImagePlus(title, stack);
        result.setDimensions(channels, slices, kept.length);
        result.setOpenAsHyperStack(stack.getSize() > 1);
        result.setCalibration(calibration);
        if (like.isComposite() && channels > 1) {
            result = new CompositeImage(result, ((CompositeImage) like).getMode());
            ((CompositeImage) result).copyLuts(like);
        } else {
            LUT lut = like.getProcessor().getLut();
            if (lut != null) { // its colours (Fire, an inverted LUT, ...); the range is set below
                result.getProcessor().setColorModel(lut);
                result.getStack().setColorModel(lut);
            }
            if (result.getBitDepth() == like.getBitDepth())
                result.setDisplayRange(like.getDisplayRangeMin(), like.getDisplayRangeMax());
            else
                result.resetDisplayRange();
        }
        copyAnnotations(like, result, kept.length == like.getNFrames());
        String before = like.getInfoProperty();
        String joined = before == null || before.isEmpty() ? info : info == null ? before : before + "\n" + info;
        if (joined != null)
            result.setProperty("Info", joined);
        return result;
    }

    /** 1-based frames from "2,4" ("" or null: all {@code count} of them). */
    private static int[] keptFrames(String frames, int count) {
        if (frames == null || frames.trim().isEmpty()) {
            int[] all = new int[count];
            for (int t = 0; t < count; t++)
                all[t] = t + 1;
            return all;
        }
        String[] parts = frames.split(",");
        int[] kept = new int[parts.length];
        for (int i = 0; i < parts.length; i++)
            kept[i] = Integer.parseInt(parts[i].trim());
        return kept;
    }

    /** Properties, ROI and overlay of {@code like} onto {@code result}; an overlay that cannot be kept is logged. */
    private static void copyAnnotations(ImagePlus like, ImagePlus result, boolean everyFrame) {
        String[] properties = like.getPropertiesAsArray();
        if (properties != null)
            result.setProperties(properties);
        Roi roi = like.getRoi();
        if (roi != null)
            result.setRoi((Roi) roi.clone());
        Overlay overlay = like.getOverlay();
        if (overlay != null && overlay.size() > 0) {
            if (everyFrame)
                result.setOverlay(overlay.duplicate());
            else
                IJ.log(like.getTitle() + ": its overlay is not kept: it is tied to planes and only some frames were denoised.");
        }
    }

    /**
     * Reports a failed command: aborts the running macro with the sentence, or shows it. In a batch
     * run nothing may wait for a click: the sentence goes to stderr and the macro ends, and so ImageJ.
     */
    private static void fail(String command, String error) {
        failures++;
        String message = command + ": " + error;
        Interpreter macro = Interpreter.getInstance();
        if (batch()) {
            System.err.println(message);
            if (macro != null) {
                macro.setIgnoreErrors(true); // abort quietly: an error dialog would keep ImageJ from exiting
                macro.abort(message);
            }
            return;
        }
        IJ.log(message);
        if (macro != null)
            macro.abort(message);
        else
            IJ.error(command, error);
    }
}
