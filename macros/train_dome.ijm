// Train an N2V model on the planes of one dome stack (every frame, slice and channel).
//
//   imagej-n2v macro --headless macros/train_dome.ijm \
//       --arg "input=[/data/dome.tif] model=[/models/domes] epochs=100 steps=400 patch_size=64"
//
// In Fiji: Plugins > Macros > Run..., or record your own with Plugins > N2V > N2V Train.
args = getArgument();
input = call("ij.Macro.getValue", args, "input", "");
model = call("ij.Macro.getValue", args, "model", "");
epochs = call("ij.Macro.getValue", args, "epochs", "100");
steps = call("ij.Macro.getValue", args, "steps", "400");
patchSize = call("ij.Macro.getValue", args, "patch_size", "64");
patches = call("ij.Macro.getValue", args, "patches", "10000");
if (input == "" || model == "")
    exit("Usage: --arg \"input=[stack.tif] model=[model folder] (epochs=N steps=N patch_size=N patches=N)\"");

setBatchMode(true);
open(input);
print("Training " + model + " on " + getTitle());
run("N2V Train", "model=[" + model + "] patch_size=" + patchSize + " patches=" + patches
    + " epochs=" + epochs + " steps=" + steps + " overwrite");
close();
