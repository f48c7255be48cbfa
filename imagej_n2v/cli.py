"""The ``imagej-n2v`` command line: train, denoise, info, and the ImageJ commands.

Each subcommand builds the same settings objects as the Python API and the ImageJ commands.
Problems the user can fix (``N2VError``) end with one sentence and exit status 2; the
traceback is shown only with ``--debug``.
"""

from __future__ import annotations

import argparse
import logging
import sys
import time
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator, Sequence

from . import __version__
from .errors import ClusterError, InputError, Interrupted, N2VError
from .interrupt import stop_requests, terminate_as_interrupt
from .logs import configure_logging, quiet_tensorflow

log = logging.getLogger("imagej_n2v")

EXIT_USER_ERROR = 2
EXIT_SOME_FAILED = 1
EXIT_INTERRUPTED = 130


def _add_settings(parser: argparse.ArgumentParser, settings: type) -> None:
    """One option per field of a settings class (``patch_size`` -> ``--patch-size``), help and default from the field.

    Values reach the settings object as typed (text), which converts and checks them; an
    option not given is absent, so the field's own default applies.
    """
    from .config import setting_fields

    for field in setting_fields(settings):
        if field.kind == "bool":  # a setting that is on by default also gets --no-...
            action = argparse.BooleanOptionalAction if field.default else "store_true"
            parser.add_argument(field.option, dest=field.name, action=action, default=argparse.SUPPRESS, help=field.help)
            continue
        shown = "" if field.default is None else f" (default: {field.default})"
        metavar = "{" + ",".join(map(str, field.choices)) + "}" if field.choices else field.name.upper()
        parser.add_argument(field.option, dest=field.name, default=argparse.SUPPRESS, metavar=metavar,
                            help=field.help + shown)


def _settings(args: argparse.Namespace, settings: type):
    """The settings object from the options given on the command line."""
    return settings(**{name: value for name, value in vars(args).items() if name in settings.model_fields})


def _add_train(subparsers) -> None:
    from .config import TrainConfig

    p = subparsers.add_parser("train", help="train an N2V model on the planes of noisy stacks",
                              description="Train a 2D N2V model on every plane (frame, slice, channel) of the inputs, "
                                          "or with --3d a 3D model on every z-stack (frame, channel).")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="TIFF files or folders (all TIFFs inside)")
    p.add_argument("--axes", help="axes of plain TIFFs, e.g. TZYX (ImageJ hyperstacks bring their own)")
    p.add_argument("--name", required=True, help="model name: the model folder is MODEL_DIR/NAME")
    p.add_argument("--model-dir", default="models", help="folder for models (default: %(default)s)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing model of that name")
    p.add_argument("--resume", action="store_true",
                   help="continue an interrupted training of this model (same inputs; its saved settings are used)")
    p.add_argument("--no-export", action="store_true", help="skip the bioimage.io zip export")
    _add_settings(p, TrainConfig)
    p.set_defaults(run=_run_train)


def _add_denoise(subparsers) -> None:
    from .config import DenoiseConfig

    p = subparsers.add_parser("denoise", help="denoise stacks with a trained model",
                              description="Denoise every plane of each input; write <stem>_denoised.tif as an ImageJ hyperstack.")
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="TIFF files or folders (all TIFFs inside)")
    p.add_argument("--model", required=True, help="n2v model folder or bioimage.io zip")
    p.add_argument("--axes", help="axes of plain TIFFs, e.g. TZYX (ImageJ hyperstacks bring their own)")
    p.add_argument("--output", help="output folder (default: beside each input)")
    p.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    _add_settings(p, DenoiseConfig)
    cluster = p.add_mutually_exclusive_group()
    cluster.add_argument("--scheduler", metavar="ADDRESS",
                         help="run on this Dask cluster, e.g. tcp://host:8786 (workers read the inputs from a shared file system)")
    cluster.add_argument("--workers", type=_positive_int, metavar="N",
                         help="run on N Dask worker processes on this machine")
    p.add_argument("--task-planes", type=_positive_int, metavar="N",
                   help="planes per unit of work with --scheduler/--workers (default: 64 MB of float32 planes)")
    p.set_defaults(run=_run_denoise)


def _add_check(subparsers) -> None:
    p = subparsers.add_parser("check", help="say how a model does on images, without denoising them",
                              description="Compare the model with blind-spot blurs and with the noisy input on a sample of "
                                          "each image's own pixels (held out from the network), and print the verdict.")
    p.add_argument("inputs", nargs="+", metavar="IMAGE", help="TIFF files or folders (all TIFFs inside)")
    p.add_argument("--model", required=True, help="n2v model folder or bioimage.io zip")
    p.add_argument("--axes", help="axes of plain TIFFs, e.g. TZYX (ImageJ hyperstacks bring their own)")
    p.add_argument("--frames", help="time points to check, 1-based, e.g. 1-3,7 (default: all)")
    p.add_argument("--channels", help="channels to check, 1-based, e.g. 1,3 (default: all)")
    p.set_defaults(run=_run_check)


def _run_check(args) -> int:
    """One verdict per image; an image too small for one says so and the others go on (exit 0)."""
    from .config import DenoiseConfig
    from .data.tiff_io import find_tiffs

    return _check_files(find_tiffs(args.inputs), args.model, args.axes, DenoiseConfig(frames=args.frames,
                                                                                      channels=args.channels))


def _check_files(paths: Sequence[Path], model: str, axes: str | None, config) -> int:
    """The verdict of ``model`` on each file (``check``, ``denoise --check only``); nothing is written."""
    from .data.tiff_io import read_image
    from .denoising.check import check_image
    from .denoising.commands import plan_output
    from .denoising.inference import load_denoiser

    denoiser = load_denoiser(model, config.precision)

    def check_file(path: Path) -> None:
        stack = read_image(path, axes).stack
        plan = plan_output(stack, config)
        check = check_image(denoiser, stack, plan.frames, plan.channels, config.keep_zero_columns, budget=False)
        print(f"{path}: {check.message()}")

    return _for_each_file(paths, check_file)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be a whole number of at least 1, not {text!r}")
    return value


def _add_info(subparsers) -> None:
    p = subparsers.add_parser("info", help="describe an image, a model, or this system")
    p.add_argument("path", nargs="?", help="a TIFF, a model folder or a bioimage.io zip")
    p.add_argument("--axes", help="axes of a plain TIFF")
    p.add_argument("--system", action="store_true", help="versions and supported precisions of this machine")
    p.set_defaults(run=_run_info)


def _add_imagej_options(p) -> None:
    p.add_argument("--fiji", metavar="PATH", help="use this Fiji.app instead of the ImageJ jar (default: $FIJI_DIR if set)")
    p.add_argument("--ij-jar", metavar="PATH", help="ImageJ 1.x jar (default: $IMAGEJ_N2V_IJ_JAR or /usr/share/java/ij.jar)")
    p.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                   help="write Python tracebacks of failed commands to the Log")


def _add_macro(subparsers) -> None:
    p = subparsers.add_parser("macro", help="run an ImageJ macro with the N2V commands",
                              description="Run an ImageJ macro (.ijm) in which run(\"N2V Denoise\", ...) and "
                                          "run(\"N2V Train\", ...) work; print ImageJ's Log; fail if the macro aborts.")
    p.add_argument("macro", metavar="FILE", help="the macro file (.ijm)")
    p.add_argument("--arg", default="", help="the string the macro's getArgument() returns")
    p.add_argument("--headless", action="store_true", help="no screen needed: use a private virtual display")
    _add_imagej_options(p)
    p.set_defaults(run=_run_macro)


def _add_gui(subparsers) -> None:
    p = subparsers.add_parser("gui", help="open ImageJ with Plugins > N2V",
                              description="Open ImageJ with the N2V commands under Plugins > N2V; ends when ImageJ quits.")
    _add_imagej_options(p)
    p.set_defaults(run=_run_gui)


def _add_install_plugin(subparsers) -> None:
    p = subparsers.add_parser(
        "install-plugin", help="put N2V Denoise and N2V Train into an ImageJ or Fiji started the usual way",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        description="Copy the plugin jar into FOLDER/plugins and record this Python beside it (imagej_n2v.properties):\n"
                    "ImageJ then lists Plugins > N2V and runs the commands in a Python worker process it starts.\n"
                    "Run it again (with this Python) after upgrading imagej-n2v.",
        epilog="examples:\n"
               "  imagej-n2v install-plugin ~/Fiji.app      Fiji (then: ImageJ-linux64 --headless -batch x.ijm)\n"
               "  imagej-n2v install-plugin ~/.imagej       Debian's imagej (plugins in ~/.imagej/plugins)\n"
               "  imagej-n2v install-plugin ~/ImageJ        ImageJ 1.x (xvfb-run java -Dplugins.dir=$HOME/ImageJ\n"
               "                                            -jar ij.jar -batch x.ijm on a server without a screen)\n"
               "  imagej-n2v install-plugin --remove ~/Fiji.app   undo: remove the jar and the Python record")
    p.add_argument("folder", metavar="FOLDER", help="the ImageJ or Fiji folder: the one holding plugins/")
    p.add_argument("--remove", action="store_true", help="remove the plugin (and the Python record) instead")
    p.set_defaults(run=_run_install_plugin)


def _run_install_plugin(args) -> int:
    from .imagej.install import install_plugin, remove_plugin

    if args.remove:
        removed = remove_plugin(args.folder)
        log.info("Removed %s.", ", ".join(map(str, removed)) if removed else "nothing (the plugin was not installed there)")
        return 0
    jar = install_plugin(args.folder)
    log.info("Installed %s; ImageJ will start %s for the N2V commands (restart ImageJ to see Plugins > N2V).",
             jar, sys.executable)
    print(jar)
    return 0


def _run_macro(args) -> int:
    from .imagej.bridge import run_macro_file, start_imagej

    start_imagej(ij_jar=args.ij_jar, fiji=args.fiji, headless=args.headless, debug=args.debug)
    stdout = sys.stdout  # held: training redirects sys.stdout to silence n2v while the Log streams on

    def emit(text: str) -> None:
        stdout.write(text)
        stdout.flush()

    result = run_macro_file(args.macro, args.arg, emit=emit)
    if result.failed:
        raise InputError(f"The macro {args.macro} stopped: {result.error or 'a command failed'}")
    if result.went_past_failures:
        log.error("The macro %s ran to its end, but a command in it failed or ImageJ showed an error: the Log "
                  "above says which.", args.macro)
        return EXIT_SOME_FAILED
    return 0


def _run_gui(args) -> int:
    from .imagej.bridge import start_imagej
    from .imagej.bridge.macro import wait_for_gui

    start_imagej(ij_jar=args.ij_jar, fiji=args.fiji, gui=True, debug=args.debug)
    log.info("ImageJ is open, with the N2V commands under Plugins > N2V; quit ImageJ to end.")
    wait_for_gui()
    return 0


def _progress_bar(total: int, description: str, unit: str):
    from tqdm import tqdm

    return tqdm(total=total, desc=description, unit=unit, disable=None, leave=False)


def _run_train(args) -> int:
    from .config import TrainConfig
    from .data.tiff_io import find_tiffs, read_image
    from .training.stopping import describe_remaining
    from .training.train import train_model

    started = time.monotonic()  # the time limit counts reading the images in
    config = _settings(args, TrainConfig)
    images = [read_image(p, args.axes) for p in find_tiffs(args.inputs)]
    target = Path(args.model_dir) / args.name
    bar = _progress_bar(sum(len(i.stack) for i in images), "reading planes", "plane")

    def on_survey(done: int, total: int) -> None:
        bar.update(done - bar.n)

    def on_epoch(epoch: int, epochs: int, logs: dict, seconds: float) -> None:
        if not bar.disable:
            bar.close()
        estimate = describe_remaining(logs)
        log.info("epoch %d/%d  loss %.4f  val_loss %.4f  lr %.2g  %.1f s%s",
                 epoch, epochs, logs.get("loss", float("nan")), logs.get("val_loss", float("nan")),
                 logs.get("lr", float("nan")), seconds, f"  ({estimate})" if estimate else "")

    result = train_model([i.stack for i in images], target, config, overwrite=args.overwrite,
                         export=not args.no_export, on_epoch=on_epoch, on_survey=on_survey, resume=args.resume,
                         started=started)
    bar.close()
    log.info("Model written to %s (trained in %s precision; history.csv, loss.png%s).", result.model_folder,
             result.precision, f", {result.archive.name}" if result.archive else "")
    print(result.model_folder)
    return 0


def _for_each_file(paths: Sequence[Path], work: Callable[[Path], None]) -> int:
    """Run ``work`` on each file; one bad file is reported and skipped, the rest are done."""
    failed = 0
    for path in paths:
        try:
            work(path)
        except ClusterError:
            raise  # every other file would hit it too
        except N2VError as exc:
            if len(paths) == 1:
                raise
            failed += 1
            log.error("%s: %s (skipped)", path.name, exc)
    if failed:
        log.error("%d of %d file(s) failed.", failed, len(paths))
        return EXIT_SOME_FAILED
    return 0


def _run_denoise(args) -> int:
    from .config import DenoiseConfig
    from .data.tiff_io import find_tiffs, read_image, write_denoised
    from .denoising.commands import denoise_stack
    from .denoising.inference import load_denoiser

    config = _settings(args, DenoiseConfig)
    paths = find_tiffs(args.inputs)
    if config.check == "only":
        return _check_files(paths, args.model, args.axes, config)
    if args.scheduler or args.workers:
        return _denoise_on_cluster(args, config, paths)
    denoiser = load_denoiser(args.model, config.precision)
    written: list[Path] = []

    def denoise_file(path: Path) -> None:
        if stop.is_set():
            raise Interrupted(f"stopped before {path.name}; {len(written)} of {len(paths)} file(s) were denoised")
        started = time.monotonic()
        image = read_image(path, args.axes)
        target = (Path(args.output) if args.output else path.parent) / f"{path.stem}_denoised.tif"

        def on_plane(done: int, total: int) -> None:
            """Called after each plane went to the temporary file: the safe point to stop at."""
            log.debug("%s: plane %d of %d written", path.name, done, total)
            if stop.is_set():  # before the rename: an earlier output stays as it was
                raise Interrupted(f"stopped after {done} of {total} planes of {path.name}; {target} was not written")

        result = denoise_stack(denoiser, image.stack, config, on_plane, on_tile=_tile_bar(path.name))
        if result.axes != image.axes:
            log.warning("%s: axes %s are written in ImageJ's order %s.", path.name, image.axes, result.axes)
        with _progress_bar(result.count, path.name, "plane") as bar:
            write_denoised(target, _counted(result.planes, bar), image, result.frames, result.dtype,
                           overwrite=args.overwrite, info=result.info)
        written.append(target)
        log.info("%s -> %s (%s %s, %.1f s)", path.name, target, result.axes, result.shape, time.monotonic() - started)
        print(target)

    # Ctrl-C and SIGTERM only ask to stop: the request is honoured between planes, so a signal
    # that comes once an output is renamed into place cannot make the run claim it was stopped.
    with stop_requests() as stop:
        code = _for_each_file(paths, denoise_file)
    if stop.is_set():
        log.warning("The stop request came after the last output was written: nothing was left to stop.")
    return code


def _tile_bar(name: str) -> Callable[[int, int, int], None]:
    """Progress through the tiles of planes too large for one network call: a bar per plane."""
    bars: dict[int, Any] = {}

    def on_tile(plane: int, done: int, total: int) -> None:
        if plane not in bars:
            bars[plane] = _progress_bar(total, f"{name} plane {plane}", "tile")
        bars[plane].update(done - bars[plane].n)
        if done == total:
            bars.pop(plane).close()
            log.debug("%s: the %d tiles of plane %d are done", name, total, plane)

    return on_tile


def _counted(planes: Iterable, bar) -> Iterator:
    """``planes`` as they are taken, each one moving the progress bar."""
    for plane in planes:
        yield plane
        bar.update(1)


def _denoise_on_cluster(args, config, paths: Sequence[Path]) -> int:
    """The same outputs as ``_run_denoise``, computed by Dask workers (see ``distributed``)."""
    from .cluster.distributed import ClusterRun, connect, plan_file
    from .models.folder import describe_model

    three_d = describe_model(args.model).three_d
    with connect(args.scheduler or args.workers) as client:
        output = Path(args.output) if args.output else None
        jobs = [plan_file(path, args.axes, config, output, args.overwrite, args.task_planes, three_d) for path in paths]
        with _progress_bar(sum(job.n_planes for job in jobs), "denoising", "plane") as bar:
            run = ClusterRun(client, args.model, config, jobs, args.overwrite,
                             progress=lambda done, total: bar.update(done - bar.n))

            def denoise_file(path: Path) -> None:  # called in the order of ``paths``, as planned
                started = time.monotonic()
                job = run.write_next()
                log.info("%s -> %s (%s %s, %.1f s)", path.name, job.target, job.axes, job.shape, time.monotonic() - started)
                print(job.target)

            return _for_each_file(paths, denoise_file)


def _run_info(args) -> int:
    from . import info

    if args.system:
        print("\n".join(info.system_lines()))
        return 0
    if not args.path:
        raise InputError("Give a TIFF, a model folder or a bioimage.io zip to describe, or --system.")
    path = Path(args.path)
    if path.is_dir() or path.name.endswith(".zip"):
        from .models.folder import describe_model

        print("\n".join(info.model_lines(describe_model(path))))
        return 0
    from .data.tiff_io import read_image

    print("\n".join(info.image_lines(read_image(path, args.axes))))
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="imagej-n2v", description="Noise2Void denoising for ImageJ/Fiji hyperstacks.")
    parser.add_argument("--version", action="version", version=f"imagej-n2v {__version__}")
    parser.add_argument("--debug", action="store_true", help="show tracebacks and debug messages")
    parser.add_argument("--quiet", action="store_true", help="only warnings and errors")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_train(subparsers)
    _add_denoise(subparsers)
    _add_check(subparsers)
    _add_info(subparsers)
    _add_macro(subparsers)
    _add_gui(subparsers)
    _add_install_plugin(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(logging.DEBUG if args.debug else logging.WARNING if args.quiet else logging.INFO)
    if not args.debug:
        quiet_tensorflow()
    try:
        with terminate_as_interrupt():
            return args.run(args)
    except N2VError as exc:
        if args.debug:
            raise
        print(f"imagej-n2v: error: {exc}", file=sys.stderr)
        return EXIT_USER_ERROR
    except KeyboardInterrupt as exc:
        print(f"imagej-n2v: interrupted{f': {exc}' if str(exc) else '.'}", file=sys.stderr)
        return EXIT_INTERRUPTED


if __name__ == "__main__":
    sys.exit(main())
