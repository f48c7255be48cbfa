// Train an N2V model on the planes of one dome stack (every frame, slice and channel).
//
//   imagej-n2v macro --headless macros/train_dome.ijm \
//       --arg "input=[/data/dome.tif] model=[/models/domes] epochs=100 steps=400 patch_size=64"
//
// Every option but input goes to N2V Train as it is (any of its keys: epochs, steps, patch_size,
// patches, ...); options left out take N2V Train's defaults. An existing model is replaced.
// In Fiji: Plugins > Macros > Run..., or record your own with Plugins > N2V > N2V Train.
args = getArgument();
input = call("ij.Macro.getValue", args, "input", "");
model = call("ij.Macro.getValue", args, "model", "");
if (input == "" || model == "")
    exit("Usage: --arg \"input=[stack.tif] model=[model folder] (epochs=N steps=N patch_size=N patches=N ...)\"");
options = replace(args, "input=(\\[[^\\]]*\\]|\\S*)", "");

setBatchMode(true);
open(input);
print("Training " + model + " on " + getTitle());
run("N2V Train", options + " overwrite");
close();
