// Denoise every TIFF of a folder into an output folder, as <name>_denoised.tif, with each stack's
// channels, slices, frames and calibration. A file that cannot be opened or denoised is skipped and
// listed at the end; the others are still denoised.
//
// From Fiji's menu: Plugins > Macros > Run... and pick this file; a dialog asks for the folders and
// the model, since Run... passes no arguments. Headless, give the arguments:
//   imagej-n2v macro --headless macros/denoise_folder.ijm \
//       --arg "input=[/data/domes] output=[/data/denoised] model=[/models/domes]"
//   ~/Fiji.app/ImageJ-linux64 --headless -batch macros/denoise_folder.ijm "input=[/data/domes] output=[/data/denoised] model=[/models/domes]"
// Existing results are never replaced unless the arguments include the word overwrite: without it
// the macro stops before denoising anything if one of the results already exists.
usage = "Usage: input=[folder] output=[folder] model=[model folder or .zip] (overwrite)";
args = getArgument();
if (args == "" && is("Batch Mode"))
    exit(usage);
if (args == "") {
    Dialog.create("Denoise a folder with N2V");
    Dialog.addDirectory("Folder of TIFFs", "");
    Dialog.addDirectory("Output folder", "");
    Dialog.addDirectory("Model (folder, or type a .zip)", "");
    Dialog.addCheckbox("Overwrite existing results", false);
    Dialog.show();
    args = "input=[" + Dialog.getString() + "] output=[" + Dialog.getString() + "] model=[" + Dialog.getString() + "]";
    if (Dialog.getCheckbox())
        args = args + " overwrite";
}
input = call("ij.Macro.getValue", args, "input", "");
output = call("ij.Macro.getValue", args, "output", "");
model = call("ij.Macro.getValue", args, "model", "");
if (input == "" || output == "" || model == "")
    exit(usage);
if (!File.isDirectory(input))
    exit("The folder " + input + " does not exist: check the input path.");
if (!File.exists(model))
    exit("The model " + model + " does not exist: give a trained model folder or .zip.");

files = getFileList(input);
names = newArray(0);
for (i = 0; i < files.length; i++) {
    lower = toLowerCase(files[i]);
    if (endsWith(lower, ".tif") || endsWith(lower, ".tiff"))
        names = Array.concat(names, files[i]);
}
if (names.length == 0)
    exit("The folder " + input + " holds no .tif or .tiff files: check the input path.");
overwrite = matches(" " + replace(args, "\\[[^\\]]*\\]", "[]") + " ", ".*\\soverwrite\\s.*");
for (i = 0; i < names.length && !overwrite; i++) {
    target = output + File.separator + File.getNameWithoutExtension(names[i]) + "_denoised.tif";
    if (File.exists(target))
        exit("The result " + target + " already exists: give another output folder, or add overwrite to replace it.");
}

// One file, run through eval: a command that fails there ends only this code, not the whole macro
// (ImageJ 1.x aborts a macro at a failing run() otherwise). It returns "ok" or why it stopped.
DENOISE_ONE = "a = getArgument(); n = nImages;"
    + "open(call('ij.Macro.getValue', a, 'file', ''));"
    + "if (nImages == n) return 'ImageJ cannot open it';"
    + "run('N2V Denoise', 'model=[' + call('ij.Macro.getValue', a, 'model', '') + ']');"
    + "saveAs('Tiff', call('ij.Macro.getValue', a, 'target', ''));"
    + "return 'ok';";

setBatchMode(true);
File.makeDirectory(output);
done = 0;
failed = newArray(0);
for (i = 0; i < names.length; i++) {
    name = names[i];
    target = output + File.separator + File.getNameWithoutExtension(name) + "_denoised.tif";
    before = nImages;
    status = eval(DENOISE_ONE, "file=[" + input + File.separator + name + "] model=[" + model + "] target=[" + target + "]");
    while (nImages > before) {
        selectImage(nImages);
        close();
    }
    if (status == "ok") {
        done++;
        print("Denoised " + name + " (" + done + ")");
    } else {
        if (status == "" || status == "0")
            status = "N2V Denoise failed (its sentence is above)";
        failed = Array.concat(failed, name + ": " + status);
        print("Skipped " + name + ": " + status);
    }
}
print("Denoised " + done + " stack(s) into " + output);
if (failed.length > 0) {
    print(failed.length + " file(s) failed:");
    for (i = 0; i < failed.length; i++)
        print("  " + failed[i]);
}
