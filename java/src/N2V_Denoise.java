import ij.plugin.PlugIn;

/** Plugins > N2V > N2V Denoise: denoises the current image with a trained N2V model. */
public class N2V_Denoise implements PlugIn {
    public void run(String arg) {
        N2V_Bridge.run("N2V Denoise");
    }
}
