import ij.IJ;
import ij.Prefs;
import ij.gui.GUI;
import ij.gui.MultiLineLabel;
import java.awt.BorderLayout;
import java.awt.Button;
import java.awt.Component;
import java.awt.Dialog;
import java.awt.EventQueue;
import java.awt.FlowLayout;
import java.awt.Font;
import java.awt.Panel;
import java.awt.event.KeyAdapter;
import java.awt.event.KeyEvent;
import java.awt.event.WindowAdapter;
import java.awt.event.WindowEvent;

/**
 * A quality warning in a window of its own, closed with OK, Return, Esc or its close box, while
 * ImageJ goes on. Not IJ.showMessage: a modal dialog takes the keyboard and the menus of every
 * ImageJ window until it is dismissed. Not NonBlockingGenericDialog: in ImageJ 1.53t, shown while a
 * macro ran N2V Train with no image open, it was seen to abort that macro ("There are no images
 * open", in CI). Not a TextWindow: it would become ImageJ's front window, which macro functions
 * such as getResult read as a table. Plain AWT, so that it touches none of ImageJ's state: not the
 * current image or front window, the macro, the Recorder, the Window menu, nor the Esc that stops a
 * command (its keys stay in this window).
 */
final class N2V_Warning extends Dialog {
    private static final int COLUMNS = 90;

    private N2V_Warning(String title, String text) {
        super(IJ.getInstance(), title, false); // owned by ImageJ's window where there is one, above it
        setLayout(new BorderLayout());
        double scale = Prefs.getGuiScale();
        if (scale > 1.0)
            setFont(new Font("SansSerif", Font.PLAIN, (int) (12 * scale)));
        KeyAdapter closing = new KeyAdapter() {
            @Override
            public void keyPressed(KeyEvent event) {
                if (event.getKeyCode() == KeyEvent.VK_ENTER || event.getKeyCode() == KeyEvent.VK_ESCAPE)
                    dispose();
            }
        };
        MultiLineLabel label = new MultiLineLabel(wrap(text));
        Panel message = new Panel(new FlowLayout(FlowLayout.CENTER, 15, 15));
        message.add(label);
        add(message, BorderLayout.CENTER);
        Button ok = new Button("  OK  ");
        ok.addActionListener(event -> dispose());
        Panel buttons = new Panel(new FlowLayout(FlowLayout.RIGHT));
        buttons.add(ok);
        add(buttons, BorderLayout.SOUTH);
        for (Component keys : new Component[] {this, label, ok})
            keys.addKeyListener(closing);
        addWindowListener(new WindowAdapter() {
            @Override
            public void windowClosing(WindowEvent event) {
                dispose();
            }
        });
        pack();
        GUI.centerOnImageJScreen(this);
    }

    /** Shows the warning from AWT's event thread and returns at once: the command goes on. */
    static void show(String title, String text) {
        EventQueue.invokeLater(() -> new N2V_Warning(title, text).setVisible(true));
    }

    /** The sentence in lines of at most COLUMNS characters (a longer word stands alone). */
    static String wrap(String text) {
        StringBuilder wrapped = new StringBuilder();
        int column = 0;
        for (String word : text.split(" ")) {
            if (column > 0 && column + word.length() > COLUMNS) {
                wrapped.append('\n');
                column = 0;
            } else if (column > 0) {
                wrapped.append(' ');
                column++;
            }
            wrapped.append(word);
            column += word.length();
        }
        return wrapped.toString();
    }
}
