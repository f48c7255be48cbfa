import ij.plugin.PlugIn;

/** Plugins > N2V > N2V Train: trains an N2V model on the planes of the current image. */
public class N2V_Train implements PlugIn {
    public void run(String arg) {
        N2V_Bridge.run("N2V Train");
    }
}
