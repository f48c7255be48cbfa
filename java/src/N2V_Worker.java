import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import java.io.BufferedInputStream;
import java.io.BufferedOutputStream;
import java.io.BufferedReader;
import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.io.File;
import java.io.FileInputStream;
import java.io.IOException;
import java.io.InputStream;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.util.ArrayDeque;
import java.util.Properties;

/**
 * The Python worker of an ImageJ that Python did not start: "python -m imagej_n2v.imagej.worker", one per
 * ImageJ session, kept warm between commands (the model stays loaded).
 *
 * Which Python: the Java property imagej_n2v.python (-Dimagej_n2v.python=...), else the
 * IMAGEJ_N2V_PYTHON environment variable, else imagej_n2v.properties beside this
 * jar, written by "imagej-n2v install-plugin" (keys python and version). The two talk through the
 * worker's stdin and stdout (N2V_Message); its stderr is kept, last lines only, to explain a crash.
 * One command at a time: a second one while one runs is refused with a sentence. When ImageJ quits
 * or is killed, the worker's stdin closes and it stops (training after its current step).
 */
final class N2V_Worker {
    static final String CONFIG = "imagej_n2v.properties";
    private static final int TAIL_LINES = 8;

    private static N2V_Worker current;
    private static boolean busy;

    private final Process process;
    private final DataInputStream in;
    private final DataOutputStream out;
    private final String python;
    private final ArrayDeque<String> tail = new ArrayDeque<String>();

    private N2V_Worker(Process process, String python) {
        this.process = process;
        this.python = python;
        in = new DataInputStream(new BufferedInputStream(process.getInputStream(), 1 << 16));
        out = new DataOutputStream(new BufferedOutputStream(process.getOutputStream(), 1 << 16));
        Thread drain = new Thread(() -> keepTail(process.getErrorStream()), "N2V worker stderr");
        drain.setDaemon(true);
        drain.start();
    }

    /** The dialog spec of a command, from the worker (started if needed), which first checks that it can take the image. */
    static String fields(String command, ImagePlus image) throws N2V_Bridge.Failure {
        N2V_Worker worker = claim(command, N2V_Task.describe(new N2V_Message("fields").put("command", command), image));
        try {
            N2V_Message reply = worker.receive();
            if (reply.type.equals("failure"))
                throw new N2V_Bridge.Failure(reply.get("error"));
            return reply.get("spec");
        } finally {
            release();
        }
    }

    /** What the command's options will cost here, in words, from the worker (the Train dialog's cost line). */
    static String cost(String command, String options) throws N2V_Bridge.Failure {
        N2V_Worker worker = claim(command, new N2V_Message("cost").put("command", command).put("options", options));
        try {
            N2V_Message reply = worker.receive();
            return reply.type.equals("failure") ? reply.get("error") : reply.get("text");
        } finally {
            release();
        }
    }

    /** Runs a command on an image (null: none open) in the worker; the result is shown (see N2V_Task). */
    static void execute(String command, ImagePlus image, String options, boolean plotted) throws N2V_Bridge.Failure {
        N2V_Task task = new N2V_Task(command, image, options, plotted);
        N2V_Worker worker = claim(command, task.request());
        try {
            task.run(worker);
        } finally {
            release();
        }
    }

    /**
     * Hands a command's first message to the running worker, or to a new one if there is none or
     * the last one died since (a write to a dead process's pipe fails at once, so a worker killed
     * between commands is replaced, never reported); refuses while another command runs.
     */
    private static synchronized N2V_Worker claim(String command, N2V_Message first) throws N2V_Bridge.Failure {
        if (busy)
            throw new N2V_Bridge.Failure("another N2V command is still running: wait for it to end (Esc stops training) and run "
                    + command + " again.");
        if (current != null && !current.delivered(first)) {
            current.process.destroy();
            current = null;
        }
        if (current == null) {
            current = start();
            current.send(first);
        }
        busy = true;
        return current;
    }

    private boolean delivered(N2V_Message message) {
        synchronized (out) {
            try {
                message.write(out);
                return true;
            } catch (IOException e) {
                return false;
            }
        }
    }

    private static synchronized void release() {
        busy = false;
    }

    void send(N2V_Message message) throws N2V_Bridge.Failure {
        synchronized (out) {
            try {
                message.write(out);
            } catch (IOException e) {
                throw crashed();
            }
        }
    }

    /** The next message from the worker; a worker that died is reported with its last stderr lines. */
    N2V_Message receive() throws N2V_Bridge.Failure {
        try {
            N2V_Message message = N2V_Message.read(in);
            if (message != null)
                return message;
        } catch (IOException e) {
            // reported below, like a worker that closed its end
        }
        throw crashed();
    }

    /** One sentence for a worker that died or broke the protocol; the next command starts a new one. */
    N2V_Bridge.Failure crashed() {
        process.destroy();
        try {
            process.waitFor(); // the stderr thread reads to the end first
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
        synchronized (N2V_Worker.class) {
            if (current == this)
                current = null;
        }
        return new N2V_Bridge.Failure("the Python worker (" + python + ") stopped unexpectedly (exit status "
                + process.exitValue() + "); its last words: " + lastWords() + ". The next N2V command starts a new one.");
    }

    private String lastWords() {
        synchronized (tail) {
            return tail.isEmpty() ? "none" : String.join(" | ", tail);
        }
    }

    private void keepTail(InputStream stderr) {
        try (BufferedReader lines = new BufferedReader(new InputStreamReader(stderr, StandardCharsets.UTF_8))) {
            for (String line; (line = lines.readLine()) != null;) {
                if (System.getenv("IMAGEJ_N2V_DEBUG") != null)
                    System.err.println("[N2V worker] " + line);
                if (line.trim().isEmpty())
                    continue;
                synchronized (tail) {
                    tail.addLast(line.trim());
                    if (tail.size() > TAIL_LINES)
                        tail.removeFirst();
                }
            }
        } catch (IOException e) {
            // the worker is gone; what was read is kept
        }
    }

    /** Starts the recorded Python and checks its hello: the protocol and the installed version must match. */
    private static N2V_Worker start() throws N2V_Bridge.Failure {
        Properties config = config();
        String python = System.getProperty("imagej_n2v.python", System.getenv("IMAGEJ_N2V_PYTHON"));
        if (python == null || python.isEmpty())
            python = config.getProperty("python", "");
        if (python.isEmpty())
            throw new N2V_Bridge.Failure("the N2V commands need Python with imagej-n2v, and none was recorded: run "
                    + "'imagej-n2v install-plugin " + imagejFolder() + "' in the Python environment that has imagej-n2v.");
        IJ.showStatus("Starting Python...");
        Process process;
        try {
            ProcessBuilder builder = new ProcessBuilder(python, "-m", "imagej_n2v.imagej.worker");
            builder.environment().put("PYTHONIOENCODING", "utf-8");
            process = builder.start();
        } catch (IOException e) {
            throw new N2V_Bridge.Failure("the Python " + python + " recorded for the N2V commands cannot be started ("
                    + e.getMessage() + "): run 'imagej-n2v install-plugin " + imagejFolder() + "' again with the Python that has imagej-n2v.");
        }
        N2V_Worker worker = new N2V_Worker(process, python);
        N2V_Message hello;
        try {
            hello = worker.receive();
        } catch (N2V_Bridge.Failure failure) {
            String words = worker.lastWords();
            if (words.contains("No module named 'imagej_n2v'"))
                throw new N2V_Bridge.Failure("imagej-n2v is not installed in the Python " + python + ": run 'imagej-n2v install-plugin "
                        + imagejFolder() + "' with the Python that has it (or pip install imagej-n2v there).");
            throw failure;
        }
        if (hello.type.equals("failure")) {
            worker.process.destroy();
            throw new N2V_Bridge.Failure("the Python " + python + " cannot run the N2V commands: " + hello.get("error"));
        }
        String recorded = config.getProperty("version", "");
        if (!hello.type.equals("hello") || !hello.get("protocol").equals(String.valueOf(N2V_Message.PROTOCOL))
                || (!recorded.isEmpty() && !recorded.equals(hello.get("version")))) {
            worker.process.destroy();
            throw new N2V_Bridge.Failure("this N2V plugin (" + (recorded.isEmpty() ? "protocol " + N2V_Message.PROTOCOL : "imagej-n2v " + recorded)
                    + ") does not match imagej-n2v " + hello.get("version") + " in " + python + ": run 'imagej-n2v install-plugin "
                    + imagejFolder() + "' with that Python to update the plugin.");
        }
        IJ.showStatus("");
        return worker;
    }

    /** imagej_n2v.properties beside this jar (empty when there is none). */
    private static Properties config() {
        Properties config = new Properties();
        File jar = jarFile();
        File file = jar == null ? null : new File(jar.getParentFile(), CONFIG);
        if (file != null && file.isFile()) {
            try (InputStream stream = new FileInputStream(file)) {
                config.load(stream);
            } catch (IOException e) {
                IJ.log("N2V: " + file + " cannot be read (" + e.getMessage() + ").");
            }
        }
        return config;
    }

    private static File jarFile() {
        try {
            return new File(N2V_Worker.class.getProtectionDomain().getCodeSource().getLocation().toURI());
        } catch (Exception e) {
            return null;
        }
    }

    /** The ImageJ or Fiji folder (the one holding plugins/), for the sentences that say what to run. */
    private static String imagejFolder() {
        File jar = jarFile();
        File plugins = jar == null ? null : jar.getParentFile();
        File folder = plugins == null ? null : plugins.getParentFile();
        return folder == null ? "IMAGEJ_FOLDER" : folder.getPath();
    }
}
