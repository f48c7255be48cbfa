// Denoise one stack with a trained N2V model and save the result as a TIFF (16-bit; 32-bit stays 32-bit).
//
// From Fiji's menu: Plugins > Macros > Run... and pick this file; a dialog asks for the stack, the
// model and the output, since Run... passes no arguments. Headless, give the arguments:
//   imagej-n2v macro --headless macros/denoise_stack.ijm \
//       --arg "input=[/data/dome.tif] model=[/models/domes] output=[/data/dome_denoised.tif]"
//   ~/Fiji.app/ImageJ-linux64 --headless -batch macros/denoise_stack.ijm "input=[/data/dome.tif] model=[/models/domes]"
// Without output= the result goes beside the input as <name>_denoised.tif. An existing file is
// never replaced unless the arguments include the word overwrite.
usage = "Usage: input=[stack.tif] model=[model folder or .zip] (output=[result.tif]) (overwrite)";
args = getArgument();
if (args == "" && is("Batch Mode"))
    exit(usage);
if (args == "") {
    Dialog.create("Denoise a stack with N2V");
    Dialog.addFile("Stack", "");
    Dialog.addDirectory("Model (folder, or type a .zip)", "");
    Dialog.addString("Output (empty: beside the stack)", "", 40);
    Dialog.addCheckbox("Overwrite an existing output", false);
    Dialog.show();
    args = "input=[" + Dialog.getString() + "] model=[" + Dialog.getString() + "] output=[" + Dialog.getString() + "]";
    if (Dialog.getCheckbox())
        args = args + " overwrite";
}
input = call("ij.Macro.getValue", args, "input", "");
model = call("ij.Macro.getValue", args, "model", "");
output = call("ij.Macro.getValue", args, "output", "");
if (input == "" || model == "")
    exit(usage);
if (!File.exists(input))
    exit("The stack " + input + " does not exist: check the input path.");
if (!File.exists(model))
    exit("The model " + model + " does not exist: give a trained model folder or .zip.");
if (output == "")
    output = File.getParent(input) + File.separator + File.getNameWithoutExtension(input) + "_denoised.tif";
if (File.exists(output) && !hasWord(args, "overwrite"))
    exit("The output " + output + " already exists: give another output, or add overwrite to replace it.");

setBatchMode(true);
open(input);
original = getImageID();
run("N2V Denoise", "model=[" + model + "]");
saveAs("Tiff", output);
print("Saved " + output);
close();
selectImage(original);
close();

// Whether a bare word (such as overwrite) is among the arguments, outside the [bracketed] values.
function hasWord(args, word) {
    return matches(" " + replace(args, "\\[[^\\]]*\\]", "[]") + " ", ".*\\s" + word + "\\s.*");
}
