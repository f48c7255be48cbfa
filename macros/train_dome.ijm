// Train an N2V model on the planes of one dome stack (every frame, slice and channel).
//
// From Fiji's menu: Plugins > Macros > Run... and pick this file; a dialog asks for the stack and
// the model folder (Run... passes no arguments), and N2V Train's defaults are used. Or record your
// own call with Plugins > N2V > N2V Train. Headless, give the arguments:
//   imagej-n2v macro --headless macros/train_dome.ijm \
//       --arg "input=[/data/dome.tif] model=[/models/domes] epochs=100 steps=400 patch_size=64"
//   ~/Fiji.app/ImageJ-linux64 --headless -batch macros/train_dome.ijm "input=[/data/dome.tif] model=[/models/domes]"
// Every option but input goes to N2V Train as it is (any of its keys: epochs, steps, patch_size,
// patches, resume, ...). An existing model is never replaced unless the arguments include overwrite.
usage = "Usage: input=[stack.tif] model=[model folder] (epochs=N steps=N patch_size=N patches=N ...) (overwrite)";
args = getArgument();
if (args == "" && is("Batch Mode"))
    exit(usage);
if (args == "") {
    Dialog.create("Train an N2V model");
    Dialog.addFile("Stack", "");
    Dialog.addDirectory("Model folder to write", "");
    Dialog.addCheckbox("Overwrite an existing model", false);
    Dialog.show();
    args = "input=[" + Dialog.getString() + "] model=[" + Dialog.getString() + "]";
    if (Dialog.getCheckbox())
        args = args + " overwrite";
}
input = call("ij.Macro.getValue", args, "input", "");
model = call("ij.Macro.getValue", args, "model", "");
if (input == "" || model == "")
    exit(usage);
if (!File.exists(input))
    exit("The stack " + input + " does not exist: check the input path.");
if (File.exists(model) && !hasWord(args, "overwrite") && !hasWord(args, "resume"))
    exit("The model " + model + " already exists: give another model folder, or add overwrite to replace it.");
options = replace(args, "input=(\\[[^\\]]*\\]|\\S*)", "");

setBatchMode(true);
open(input);
print("Training " + model + " on " + getTitle());
run("N2V Train", options);
close();

// Whether a bare word (such as overwrite) is among the arguments, outside the [bracketed] values.
function hasWord(args, word) {
    return matches(" " + replace(args, "\\[[^\\]]*\\]", "[]") + " ", ".*\\s" + word + "\\s.*");
}
