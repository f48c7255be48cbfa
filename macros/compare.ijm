// Denoise one image and show it beside the input, in synchronised windows, to judge the result.
// Nothing is saved (File > Save As the result if you keep it).
//
// From Fiji's menu: Plugins > Macros > Run... and pick this file; a dialog asks for the image and
// the model (Run... passes no arguments). With arguments:
//   imagej-n2v gui, then Plugins > Macros > Run..., or from another macro:
//   runMacro("/path/to/compare.ijm", "input=[/data/dome.tif] model=[/models/domes]");
// The two windows are tiled and Analyze > Tools > Synchronize Windows is opened: click
// "Synchronize All" there (ImageJ 1.x cannot press it from a macro); then the cursor, zoom and the
// slice, channel and frame follow in both. In batch mode (headless runs, tests) it only denoises,
// prints the two titles and closes both images.
usage = "Usage: input=[image file] model=[model folder or .zip]";
args = getArgument();
if (args == "" && is("Batch Mode"))
    exit(usage);
if (args == "") {
    Dialog.create("Compare an image with its N2V result");
    Dialog.addFile("Image", "");
    Dialog.addDirectory("Model (folder, or type a .zip)", "");
    Dialog.show();
    args = "input=[" + Dialog.getString() + "] model=[" + Dialog.getString() + "]";
}
input = call("ij.Macro.getValue", args, "input", "");
model = call("ij.Macro.getValue", args, "model", "");
if (input == "" || model == "")
    exit(usage);
if (!File.exists(input))
    exit("The image " + input + " does not exist: check the input path.");
if (!File.exists(model))
    exit("The model " + model + " does not exist: give a trained model folder or .zip.");

batch = is("Batch Mode");
open(input);
original = getImageID();
run("N2V Denoise", "model=[" + model + "]");
denoised = getImageID();
selectImage(original);
first = getTitle();
selectImage(denoised);
print("Compare " + first + " with " + getTitle());
if (batch) {
    close();
    selectImage(original);
    close();
    exit;
}
run("Tile");
run("Synchronize Windows");
print("Click \"Synchronize All\" in the Synchronize Windows dialog to link the two windows.");
