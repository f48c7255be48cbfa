import ij.Macro;
import ij.Prefs;
import ij.gui.GenericDialog;
import java.awt.Label;
import java.util.Arrays;

/**
 * A command's dialog, described by Python (imagej_n2v.imagej.bridge.options.dialog_spec), as Fiji
 * users know them: fields that offer the values last used (ImageJ's Prefs, kept across sessions in
 * IJ_Prefs.txt), a short hint in the label of free-text fields, a Help button with every setting's help,
 * and, for training, a line that says what the settings will cost on this machine.
 *
 * Only dialogs read what was remembered: a macro's options string is read by Python, whose
 * missing keys get the documented defaults. The dialog's fields are read with getNext*, so the
 * Recorder records every value, and a recorded line replays without any remembered value.
 */
final class N2V_Dialog {
    private N2V_Dialog() {
    }

    /** What a command's settings will cost here, in words (the Train dialog's cost line). */
    interface Estimate {
        String cost(String options) throws N2V_Bridge.Failure;
    }

    /**
     * Shows the dialog; returns its values as a macro options string, null if cancelled. The spec
     * has one line per field, KIND TAB KEY TAB DEFAULT TAB HINT [TAB CHOICE...], KIND being text,
     * path, int, float, bool, flag (a checkbox for this run only: never remembered) or choice; a
     * line "help TAB TAB HTML" gives the Help button's page, and a line "cost" a line that says,
     * as the fields change, what the settings will cost (from {@code estimate}).
     */
    static String ask(String command, String spec, Estimate estimate) throws N2V_Bridge.Failure {
        String[][] fields = parse(spec);
        String[] values = new String[fields.length];
        Label cost = null;
        GenericDialog dialog = new GenericDialog(command);
        for (int i = 0; i < fields.length; i++) {
            String[] field = fields[i];
            String kind = field[0], key = field[1], value = remembered(command, kind, key, field[2]);
            String hint = field.length > 3 ? field[3] : "";
            values[i] = value;
            if (kind.equals("help"))
                dialog.addHelp(field[2]);
            else if (kind.equals("cost")) {
                dialog.addMessage(estimate.cost(options(fields, values)));
                cost = (Label) dialog.getMessage();
            } else if (kind.equals("text")) // the Recorder's key is the label's first word
                dialog.addStringField(hint.isEmpty() ? key : key + " (" + hint + ")", value, 20);
            else if (kind.equals("path"))
                dialog.addDirectoryField(key, value, 40);
            else if (kind.equals("bool") || kind.equals("flag"))
                dialog.addCheckbox(key, Boolean.parseBoolean(value));
            else if (kind.equals("choice"))
                dialog.addChoice(key, Arrays.copyOfRange(field, 4, field.length), value);
            else
                dialog.addNumericField(key, Double.parseDouble(value), kind.equals("int") ? 0 : decimals(value));
        }
        if (cost != null) {
            final Label line = cost;
            dialog.addDialogListener((shown, event) -> {
                try {
                    line.setText(estimate.cost(options(fields, read(shown, fields))));
                } catch (N2V_Bridge.Failure failure) {
                    line.setText(failure.getMessage());
                }
                return true;
            });
        }
        dialog.showDialog();
        if (dialog.wasCanceled())
            return null;
        values = read(dialog, fields);
        for (int i = 0; i < fields.length; i++)
            if (values[i] != null && !fields[i][0].equals("flag"))
                Prefs.set(prefKey(command, fields[i][1]), values[i]);
        return options(fields, values);
    }

    /** The fields' values as the dialog shows them now (null for lines that are not fields). */
    private static String[] read(GenericDialog dialog, String[][] fields) {
        String[] values = new String[fields.length];
        for (int i = 0; i < fields.length; i++) {
            String kind = fields[i][0];
            if (kind.equals("text") || kind.equals("path"))
                values[i] = dialog.getNextString().trim();
            else if (kind.equals("bool") || kind.equals("flag"))
                values[i] = String.valueOf(dialog.getNextBoolean());
            else if (kind.equals("choice"))
                values[i] = dialog.getNextChoice();
            else if (kind.equals("int") || kind.equals("float")) {
                double number = dialog.getNextNumber();
                values[i] = kind.equals("int") ? String.valueOf((long) number) : String.valueOf(number);
            }
        }
        return values;
    }

    /** Values as a macro options string: every field named, so that a recorded line needs no remembered value. */
    private static String options(String[][] fields, String[] values) {
        StringBuilder options = new StringBuilder();
        for (int i = 0; i < fields.length; i++) {
            String kind = fields[i][0], key = fields[i][1], value = values[i];
            if (kind.equals("help") || kind.equals("cost") || value == null)
                continue;
            if (kind.equals("text") || kind.equals("path")) {
                if (value.length() > 0)
                    options.append(key).append("=[").append(value).append("] ");
            } else if (kind.equals("bool") || kind.equals("flag")) {
                if (Boolean.parseBoolean(value))
                    options.append(key).append(' ');
            } else {
                options.append(key).append('=').append(value).append(' ');
            }
        }
        return options.toString();
    }

    /** After a training: N2V Denoise's dialog offers the model just written. */
    static void trained(String options) {
        String model = Macro.getValue(options, "model", "").trim();
        if (model.length() > 0)
            Prefs.set(prefKey("N2V Denoise", "model"), model);
    }

    /** The value a field offers: the one last used in a dialog, else the spec's default. */
    private static String remembered(String command, String kind, String key, String fallback) {
        if (kind.equals("flag") || kind.equals("help") || kind.equals("cost"))
            return fallback;
        return Prefs.get(prefKey(command, key), fallback);
    }

    /** "n2v.denoise.model": ImageJ's Prefs keys need a prefix with a dot. */
    static String prefKey(String command, String key) {
        return "n2v." + command.replace("N2V ", "").toLowerCase() + "." + key;
    }

    static String[][] parse(String spec) {
        String[] lines = spec.split("\n");
        String[][] fields = new String[lines.length][];
        for (int i = 0; i < lines.length; i++)
            fields[i] = lines[i].split("\t", -1);
        return fields;
    }

    /** Decimals to show for a default such as 0.0004, so that it does not read 0.000. */
    private static int decimals(String value) {
        int point = value.indexOf('.');
        return point < 0 ? 0 : Math.min(6, Math.max(1, value.length() - point - 1));
    }
}
