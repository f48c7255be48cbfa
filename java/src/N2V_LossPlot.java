import ij.gui.Plot;
import ij.gui.PlotWindow;
import java.awt.Color;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.Map;

/**
 * The training and validation loss per epoch in a small plot window that grows as training goes,
 * as the CSBDeep N2V plugin showed it. Used for menu runs only: in a macro, a new window would
 * become the current image under the macro's feet (the Log has the losses there).
 */
public final class N2V_LossPlot {
    private final String title;
    private final ArrayList<double[]> points = new ArrayList<double[]>();
    /** Held-out losses the curve reads against (the best blur's, the noisy input's level), by label. */
    private final Map<String, Double> references = new LinkedHashMap<String, Double>();
    private PlotWindow window;

    public N2V_LossPlot(String command) {
        title = command + ": loss";
    }

    public void add(double epoch, double loss, double validation) {
        points.add(new double[] {epoch, loss, validation});
        draw();
    }

    /** A horizontal line at a held-out loss, drawn across the epochs so far (sent after training). */
    public void reference(String label, double value) {
        references.put(label, value);
        if (!points.isEmpty())
            draw();
    }

    private void draw() {
        double[] x = new double[points.size()], training = new double[x.length], checked = new double[x.length];
        for (int i = 0; i < x.length; i++) {
            x[i] = points.get(i)[0];
            training[i] = points.get(i)[1];
            checked[i] = points.get(i)[2];
        }
        Plot plot = new Plot(title, "epoch", "loss");
        plot.setColor(Color.BLUE);
        plot.addPoints(x, training, Plot.LINE);
        plot.setColor(Color.RED);
        plot.addPoints(x, checked, Plot.LINE);
        StringBuilder legend = new StringBuilder("training\tvalidation");
        Color[] shades = {Color.DARK_GRAY, Color.GRAY, Color.BLACK};
        int line = 0;
        for (Map.Entry<String, Double> reference : references.entrySet()) {
            plot.setColor(shades[line++ % shades.length]);
            plot.addPoints(new double[] {x[0], x[x.length - 1]}, new double[] {reference.getValue(), reference.getValue()},
                    Plot.LINE);
            legend.append('\t').append(reference.getKey());
        }
        plot.addLegend(legend.toString());
        plot.setLimitsToFit(false);
        if (window == null || !window.isVisible())
            window = plot.show();
        else
            window.drawPlot(plot);
    }
}
