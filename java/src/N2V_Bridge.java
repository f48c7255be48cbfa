import ij.IJ;
import java.awt.AWTEvent;
import java.awt.Component;
import java.awt.Container;
import java.awt.Dialog;
import java.awt.Label;
import java.awt.TextComponent;
import java.awt.Toolkit;
import java.awt.event.WindowEvent;
import java.lang.reflect.Field;
import javax.swing.text.JTextComponent;
import ij.ImagePlus;
import ij.Macro;
import ij.WindowManager;
import ij.gui.GenericDialog;
import ij.macro.Interpreter;

/**
 * The meeting point of ImageJ and Python: the plugins gather options here and hand them to the
 * handler that Python installs (a JPype proxy). All N2V logic lives in Python; this class only
 * shows the dialog (so the Recorder records the options) and reports failures.
 */
public class N2V_Bridge {

    /** Implemented in Python (imagej_n2v.bridge.commands). */
    public interface Handler {
        /**
         * The dialog fields of a command, one per entry as "kind:key:default" where kind is
         * s (text), i (integer), f (decimal number) or b (checkbox).
         */
        String[] fields(String command);

        /** Runs a command on an image (null when none is open); returns null on success or the error sentence. */
        String run(String command, ImagePlus image, String options);
    }

    private static volatile Handler handler;
    private static volatile int failures;
    private static volatile boolean dialogs = true;
    private static volatile int closedDialogs;
    private static volatile String lastDialog;

    public static void setHandler(Handler newHandler) {
        handler = newHandler;
    }

    /** Headless runs turn dialogs off: a command without options then fails instead of waiting for a click. */
    public static void setDialogs(boolean shown) {
        dialogs = shown;
    }

    /**
     * Closes every dialog as soon as it opens, after writing its title and text to the Log:
     * a run without a screen has no one to click OK, and a modal dialog would wait forever.
     */
    public static void closeDialogs() {
        Toolkit.getDefaultToolkit().addAWTEventListener(event -> {
            if (event.getID() != WindowEvent.WINDOW_OPENED || !(event.getSource() instanceof Dialog))
                return;
            Dialog dialog = (Dialog) event.getSource();
            StringBuilder text = new StringBuilder();
            collectText(dialog, text);
            lastDialog = "[" + dialog.getTitle() + "] " + text.toString().trim();
            closedDialogs++;
            IJ.log(lastDialog);
            dialog.dispose();
        }, AWTEvent.WINDOW_EVENT_MASK);
    }

    private static void collectText(Component component, StringBuilder text) {
        String found = null;
        if (component instanceof Label)
            found = ((Label) component).getText();
        else if (component instanceof TextComponent)
            found = ((TextComponent) component).getText();
        else if (component instanceof JTextComponent)
            found = ((JTextComponent) component).getText().replaceAll("<[^>]*>", " ");
        else if (component instanceof ij.gui.MultiLineLabel) {
            try {
                Field lines = ij.gui.MultiLineLabel.class.getDeclaredField("lines");
                lines.setAccessible(true);
                found = String.join(" ", (String[]) lines.get(component));
            } catch (ReflectiveOperationException | RuntimeException e) {
                found = null;
            }
        }
        if (found != null && found.trim().length() > 0)
            text.append(found.trim().replaceAll("\\s+", " ")).append(' ');
        if (component instanceof Container)
            for (Component child : ((Container) component).getComponents())
                collectText(child, text);
    }

    /** How many dialogs closeDialogs() had to close: a headless run that needed one did not go as written. */
    public static int closedDialogs() {
        return closedDialogs;
    }

    /** The title and text of the last dialog closeDialogs() closed. */
    public static String lastDialog() {
        return lastDialog;
    }

    /** How many commands failed since the JVM started: lets a caller see failures a macro ignored. */
    public static int failures() {
        return failures;
    }

    /** Runs a command the way its plugin was called: from a macro's options, or through a dialog. */
    static void run(String command) {
        // Macro.getOptions() is only set on ImageJ's macro threads: read it here, in the plugin's run().
        String options = Macro.getOptions();
        Handler current = handler;
        if (current == null) {
            fail(command, "the N2V commands need Python: start ImageJ with 'imagej-n2v gui' or run macros with 'imagej-n2v macro'.");
            return;
        }
        ImagePlus image = WindowManager.getCurrentImage();
        if (options == null && image != null && dialogs) {
            options = ask(command, current.fields(command));
            if (options == null)
                return; // cancelled
        }
        String error = current.run(command, image, options == null ? "" : options);
        if (error != null && error.length() > 0)
            fail(command, error);
    }

    /** Shows the command's dialog; returns its values as a macro options string, null if cancelled. */
    private static String ask(String command, String[] fields) {
        GenericDialog dialog = new GenericDialog(command);
        for (String field : fields) {
            String[] part = field.split(":", 3);
            if (part[0].equals("s"))
                dialog.addStringField(part[1], part[2], 40);
            else if (part[0].equals("b"))
                dialog.addCheckbox(part[1], Boolean.parseBoolean(part[2]));
            else
                dialog.addNumericField(part[1], Double.parseDouble(part[2]), part[0].equals("i") ? 0 : 3);
        }
        dialog.showDialog();
        if (dialog.wasCanceled())
            return null;
        StringBuilder options = new StringBuilder();
        for (String field : fields) {
            String[] part = field.split(":", 3);
            if (part[0].equals("s")) {
                String value = dialog.getNextString().trim();
                if (value.length() > 0)
                    options.append(part[1]).append("=[").append(value).append("] ");
            } else if (part[0].equals("b")) {
                if (dialog.getNextBoolean())
                    options.append(part[1]).append(' ');
            } else {
                double value = dialog.getNextNumber();
                options.append(part[1]).append('=').append(part[0].equals("i") ? String.valueOf((long) value) : String.valueOf(value)).append(' ');
            }
        }
        return options.toString();
    }

    /** Reports a failed command: aborts the running macro with the sentence, or shows it. */
    private static void fail(String command, String error) {
        failures++;
        String message = command + ": " + error;
        IJ.log(message);
        Interpreter macro = Interpreter.getInstance();
        if (macro != null)
            macro.abort(message);
        else
            IJ.error(command, error);
    }
}
