// Denoise one stack with a trained N2V model and save the 16-bit result beside it (or as output=).
//
//   imagej-n2v macro --headless macros/denoise_stack.ijm \
//       --arg "input=[/data/dome.tif] model=[/models/domes] output=[/data/dome_denoised.tif]"
args = getArgument();
input = call("ij.Macro.getValue", args, "input", "");
model = call("ij.Macro.getValue", args, "model", "");
output = call("ij.Macro.getValue", args, "output", "");
if (input == "" || model == "")
    exit("Usage: --arg \"input=[stack.tif] model=[model folder or .zip] (output=[result.tif])\"");

setBatchMode(true);
open(input);
original = getImageID();
run("N2V Denoise", "model=[" + model + "]");
if (output == "")
    output = File.getParent(input) + File.separator + getTitle() + ".tif";
saveAs("Tiff", output);
print("Saved " + output);
close();
selectImage(original);
close();
