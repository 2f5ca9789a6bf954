"""Defenses and the report: ``immunize``, ``verify-coins``, ``report``."""
from __future__ import annotations

from pathlib import Path

import typer

from .common import FORCE, SEED_MAX, app, check_outputs, echo, seed_option


@app.command("verify-coins")
def verify_coins_cmd(bundle: Path = typer.Argument(..., help="An rff or relu bundle"),
                     seed: int = typer.Option(..., "--seed", help="The seed S the client chose for 'train --seed S'", min=0, max=SEED_MAX),
                     json_out: bool = typer.Option(False, "--json", help="Print the full result as JSON")) -> None:
    """Client-controlled coins: exit 0 iff the random features are exactly the coins of seed S."""
    import json

    from .. import api
    from ..defend.coins import CoinsMismatchError

    res = api.verify_coins(bundle, seed)
    if json_out:  # the full result on stdout, success or not
        typer.echo(json.dumps(res.to_json()))
    if not res.ok:
        exc = CoinsMismatchError(res.message())
        exc.json_printed = json_out  # type: ignore[attr-defined]  # main() prints no second JSON object
        raise exc
    if not json_out:
        from .render import terminal_safe

        typer.echo(terminal_safe(res.message()))


@app.command()
def report(directory: Path = typer.Argument(..., help="Folder with results.json (written by 'undetectable demo') and/or arena.json files"),
           markdown: Path | None = typer.Option(None, "--markdown", help="Write the numbers as Markdown to this file (e.g. docs/results.md) instead of HTML"),
           force: bool = FORCE) -> None:
    """Write DIR/report.html: self-contained (inline figures and CSS) from DIR/results.json and DIR/**/arena.json."""
    from .. import api

    if markdown is not None:
        import itertools

        from ..report.markdown import write_markdown

        # the files the report reads are inputs: --markdown may not be, hold or lie inside one
        read = [directory / "results.json", *itertools.islice(directory.rglob("arena.json"), 1000)] if directory.is_dir() else []
        check_outputs(force, markdown, out_kind="file", inputs=read)

        echo(f"wrote {write_markdown(directory, markdown, force=force)}")
        return

    echo(f"wrote {api.write_report(directory, force=force)}")


@app.command()
def immunize(bundle: Path = typer.Argument(..., help="Bundle to immunize (any family), or a model file (.onnx)"),
             sigma: float = typer.Option(..., "--sigma", help="Noise σ > 0; for images in [0,1] pixel units (1/255 = one grey level), at most 10; float features: at most 1000 training stds of the widest feature"),
             n: int = typer.Option(100, "--n", help="Noise samples per prediction"),
             alpha: float = typer.Option(0.001, "--alpha", help="Abstain unless the binomial test rejects at this level"),
             seed: int = seed_option("immunize"),
             out: Path = typer.Option(..., "--out", help="Output bundle (family 'smoothed', its base the bundle or the model file; predict gives -1 for abstain)"),
             force: bool = FORCE) -> None:
    """Randomized smoothing (Thm 2.4, Cohen et al. 2019): wrap a bundle so predict votes over noisy copies."""
    from .. import api
    from ..defend.smoothing import immunize as smooth

    check_outputs(force, out, inputs=(bundle,))
    m = smooth(api.load_model(bundle), sigma, n=n, alpha=alpha, seed=seed)
    api.save(m, out, force=force, inputs=[bundle])
    echo(f"wrote {out}: smoothed {m.base.family} at σ = {m.sigma:g}, n = {m.n}, α = {m.alpha:g}; abstentions predict as {m.abstain_label!r}")
