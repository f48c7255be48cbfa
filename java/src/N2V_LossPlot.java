import ij.gui.Plot;
import ij.gui.PlotWindow;
import java.awt.Color;
import java.util.ArrayList;

/**
 * The training and validation loss per epoch in a small plot window that grows as training goes,
 * as the CSBDeep N2V plugin showed it. Used for menu runs only: in a macro, a new window would
 * become the current image under the macro's feet (the Log has the losses there).
 */
public final class N2V_LossPlot {
    private final String title;
    private final ArrayList<double[]> points = new ArrayList<double[]>();
    private PlotWindow window;

    public N2V_LossPlot(String command) {
        title = command + ": loss";
    }

    public void add(double epoch, double loss, double validation) {
        points.add(new double[] {epoch, loss, validation});
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
        plot.addLegend("training\tvalidation");
        plot.setLimitsToFit(false);
        if (window == null || !window.isVisible())
            window = plot.show();
        else
            window.drawPlot(plot);
    }
}
