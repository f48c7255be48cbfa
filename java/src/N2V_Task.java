import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;

/**
 * One N2V command run by the worker: the request, then the worker's messages until it completes or
 * fails. Input planes go to the worker when it asks for them (plane by plane, so a virtual stack
 * is read one plane at a time); output planes come back in ImageJ's order. Esc sends "cancel".
 */
final class N2V_Task {
    private static final long ESCAPE_POLL_MS = 200;

    private final String command;
    private final ImagePlus image;
    private final String options;
    private final N2V_LossPlot plot;
    private final boolean interactive; // a menu run: a warning may show a dialog
    private ImageStack output;

    /** plotted: whether to show the loss plot (menu use; a macro's current image must not change). */
    private N2V_Worker worker;

    N2V_Task(String command, ImagePlus image, String options, boolean plotted) {
        this.command = command;
        this.image = image;
        this.options = options;
        plot = plotted ? new N2V_LossPlot(command) : null;
        interactive = plotted;
    }

    /** The request that starts the command: its options and the image's description. */
    N2V_Message request() {
        return describe(new N2V_Message("execute").put("command", command).put("options", options), image);
    }

    /** {@code message} with the image's title, sizes and bit depth (nothing when image is null). */
    static N2V_Message describe(N2V_Message message, ImagePlus image) {
        if (image != null)
            message.put("title", image.getTitle()).put("width", image.getWidth()).put("height", image.getHeight())
                    .put("channels", image.getNChannels()).put("slices", image.getNSlices()).put("frames", image.getNFrames())
                    .put("planes", image.getStackSize()).put("bit_depth", image.getBitDepth());
        return message;
    }

    /** The rest of the conversation, once the worker has the request. */
    void run(N2V_Worker worker) throws N2V_Bridge.Failure {
        this.worker = worker;
        if (image != null)
            output = new ImageStack(image.getWidth(), image.getHeight());
        IJ.resetEscape();
        Thread escape = new Thread(this::watchEscape, "N2V Esc");
        escape.setDaemon(true);
        escape.start();
        try {
            while (!answer(worker.receive())) {
                // one message at a time, until completion or failure
            }
        } finally {
            escape.interrupt();
            IJ.showProgress(1.0);
        }
    }

    /** Acts on one message from the worker; true when the command is over. */
    private boolean answer(N2V_Message message) throws N2V_Bridge.Failure {
        String type = message.type;
        if (type.equals("read")) {
            int index = message.number("index");
            worker.send(N2V_Message.plane("plane", image.getStack().getPixels(index), image.getWidth(), image.getHeight())
                    .put("index", index));
        } else if (type.equals("plane")) {
            output.addSlice(null, message.pixels());
        } else if (type.equals("update")) {
            IJ.showProgress(message.number("current"), message.number("maximum"));
            IJ.showStatus(message.get("message"));
        } else if (type.equals("log")) {
            IJ.log(message.get("message"));
        } else if (type.equals("warning")) {
            IJ.log(message.get("message"));
            if (interactive)
                N2V_Bridge.warningDialog(command, message.get("message"));
        } else if (type.equals("reference")) {
            if (plot != null)
                plot.reference(message.get("label"), Double.parseDouble(message.get("value")));
        } else if (type.equals("loss")) {
            if (plot != null)
                plot.add(Double.parseDouble(message.get("epoch")), Double.parseDouble(message.get("loss")),
                        Double.parseDouble(message.get("val_loss")));
        } else if (type.equals("completion")) {
            if (message.values.containsKey("title"))
                N2V_Bridge.resultImage(output, image, message.get("title"), message.get("frames"), message.get("info")).show();
            IJ.showStatus(message.values.containsKey("status") ? message.get("status") : command + ": done");
            return true;
        } else if (type.equals("failure")) {
            if (message.values.containsKey("traceback"))
                IJ.log(message.get("traceback"));
            throw new N2V_Bridge.Failure(message.get("error"));
        } else {
            throw new N2V_Bridge.Failure("the Python worker sent a message of the unknown kind '" + type
                    + "': run 'imagej-n2v install-plugin' again so that the plugin and imagej-n2v match.");
        }
        return false;
    }

    /** Esc in ImageJ asks the worker to stop: training ends after the current step, keeping the model. */
    private void watchEscape() {
        try {
            while (!Thread.currentThread().isInterrupted()) {
                Thread.sleep(ESCAPE_POLL_MS);
                if (IJ.escapePressed()) {
                    IJ.resetEscape();
                    IJ.showStatus(command + ": stopping after the current step...");
                    worker.send(new N2V_Message("cancel"));
                }
            }
        } catch (InterruptedException | N2V_Bridge.Failure e) {
            // the command ended, or the worker is gone (the command's thread reports that)
        }
    }
}
