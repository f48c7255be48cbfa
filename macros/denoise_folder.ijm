// Denoise every TIFF of a folder into an output folder, as <name>_denoised.tif, 16-bit,
// with each stack's channels, slices, frames and calibration.
//
//   imagej-n2v macro --headless macros/denoise_folder.ijm \
//       --arg "input=[/data/domes] output=[/data/denoised] model=[/models/domes]"
args = getArgument();
input = call("ij.Macro.getValue", args, "input", "");
output = call("ij.Macro.getValue", args, "output", "");
model = call("ij.Macro.getValue", args, "model", "");
if (input == "" || output == "" || model == "")
    exit("Usage: --arg \"input=[folder] output=[folder] model=[model folder or .zip]\"");

setBatchMode(true);
File.makeDirectory(output);
files = getFileList(input);
done = 0;
for (i = 0; i < files.length; i++) {
    name = files[i];
    lower = toLowerCase(name);
    if (!endsWith(lower, ".tif") && !endsWith(lower, ".tiff"))
        continue;
    open(input + File.separator + name);
    original = getImageID();
    run("N2V Denoise", "model=[" + model + "]");
    saveAs("Tiff", output + File.separator + getTitle() + ".tif");
    close();
    selectImage(original);
    close();
    done++;
    print("Denoised " + name + " (" + done + ")");
}
print("Denoised " + done + " stack(s) into " + output);
