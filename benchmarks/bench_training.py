"""Training throughput of the Brajard et al. (2020) CNN, and the cost of one DA–ML iteration.

Part 1, training throughput. Data: a Lorenz-96 trajectory (F = 8, dt = 0.05, RK4) of
``--samples`` pairs ``(x_k, x_{k+1} - x_k)``; the net (``assimilax.ml.nets.BrajardCNN``,
default sizes: three 24-filter branches of the bilinear layer, 37 filters, kernel 5,
float32) learns the increment with the MSE and Adam. For each batch size, ``fit`` runs
``--epochs`` epochs; every epoch is one jitted ``lax.scan`` over the minibatches (forward,
backward, Adam update). The time of each epoch is taken from the ``callback`` (which runs
after the epoch's losses have come back to the host); the first epoch, which includes
compilation, is reported separately and the steady-state rows use the median of the
others. Reference, in the same run: the same CNN built from ``equinox.nn.Conv1d``
(circular padding, i.e. ``lax.conv_general_dilated``) instead of the package's
matrix-product ``PeriodicConv1d``, at batch size 128.

Part 2, one iteration of the iterative DA–ML loop (``assimilax.hybrid.iterative_emulation``,
Brajard et al. 2020) on its set-up: Lorenz-96 (n = 40), ``--steps`` (4,000) observation
times one model step apart, a random half of the state observed at each time with
σ_o = 1 (``RandomSubset(40, 0.5)``, ``DiagonalNoise(1.0)``). A first training
(``--epochs-first`` epochs, untimed in the table's total) makes a surrogate; by default it
is trained on a stand-in for a mid-loop estimate (the truth plus N(0, 0.7²) noise, weights
1/(0.7² + 0.01)), with ``--interpolation`` on the loop's own start, the space–time
interpolation of the observations (then timed too; it is slow). Then, timed, the two
parts of every later iteration:

- assimilation: one EnKF-N pass (N = 30, ``assimilate(..., save_ensembles=True)`` jitted
  with ``eqx.filter_jit`` as the loop does) over the whole record, with the resolvent
  ``Emulator(BrajardCNN)`` and model noise sqrt(dt)·1 per step as forecast model. The
  first call compiles; the best of the next ``--repeats`` (3) calls is reported.
  Reference: the same pass with the true Lorenz-96 model (RK4, the same model noise);
- training: ``assimilax.hybrid.train_surrogate``, warm-started, on the analyses of that
  pass weighted ``1 / (σ_a² + 0.01)``, ``--loop-epochs`` (40) epochs, batch 128, Adam 1e-3,
  timed as the loop calls it (s/iteration; best of ``--repeats`` - 1 calls), and once
  more through ``fit`` with a per-epoch callback (the steady s/epoch, and the first epoch
  with compilation).

    python benchmarks/bench_training.py                  # about a minute on 2 quiet cores
    python benchmarks/bench_training.py --quick          # 3 epochs per batch size, 1 repeat
    python benchmarks/bench_training.py --interpolation  # part 2 from the interpolation
"""

import argparse
import json
import statistics
import time
from pathlib import Path

import equinox as eqx
import jax
import jax.numpy as jnp
import numpy as np
import optax

from assimilax.experiments import configure_runtime

configure_runtime()  # float64 states, as the runner uses; the net itself is float32

from assimilax import hybrid  # noqa: E402
from assimilax.da import EnKF_N, Save, assimilate  # noqa: E402
from assimilax.experiments import simulate_twin, twin_keys  # noqa: E402
from assimilax.ml import Emulator, fit, losses, nets  # noqa: E402
from assimilax.models import Lorenz96, forecast, rollout  # noqa: E402
from assimilax.observations import DiagonalNoise, RandomSubset  # noqa: E402

# ----------------------------------------------------------------------------- part 1


def l96_pairs(n_samples: int, seed: int = 0):
    model = Lorenz96(n=40, forcing=8.0, dt=0.05)
    x0 = model.initial_condition(jax.random.key(seed))
    x0 = forecast(model, x0, 1000)  # spin-up onto the attractor
    xs = np.asarray(rollout(model, x0, n_samples + 1))
    return xs[:-1], xs[1:] - xs[:-1]


class ConvBrajardCNN(eqx.Module):
    """The reference: BrajardCNN's architecture with ``equinox.nn.Conv1d`` layers
    (circular padding, ``lax.conv_general_dilated``), no input normalisation, float32."""

    bilinear: tuple
    hidden: eqx.nn.Conv1d
    output: eqx.nn.Conv1d

    def __init__(self, *, key, kernel_size=5, bilinear_filters=24, hidden_filters=37):
        k1, k2, k3, kh, ko = jax.random.split(key, 5)
        pad = kernel_size // 2

        def conv(cin, cout, k, kk, p):
            return eqx.nn.Conv1d(cin, cout, k, padding=p, padding_mode="CIRCULAR",
                                 dtype=jnp.float32, key=kk)

        self.bilinear = tuple(conv(1, bilinear_filters, kernel_size, k, pad)
                              for k in (k1, k2, k3))
        self.hidden = conv(2 * bilinear_filters, hidden_filters, kernel_size, kh, pad)
        self.output = conv(hidden_filters, 1, 1, ko, 0)

    def __call__(self, x, *, key=None):
        h = jnp.asarray(x).astype(jnp.float32)[None]
        a, b, c = (jax.nn.relu(conv(h)) for conv in self.bilinear)
        h = jax.nn.relu(self.hidden(jnp.concatenate([c, a * b], axis=0)))
        return self.output(h)[0]


def loss_fn(model, batch):
    x, dx = batch
    return losses.mse(jax.vmap(model)(x), dx)


def _timed_fit(net, loss, data, *, epochs, batch_size, seed, learning_rate=1e-3):
    """``fit`` with a per-epoch stamp: (trained model, history, epoch wall times)."""
    stamps = [time.perf_counter()]

    def stamp(epoch, model, history):
        stamps.append(time.perf_counter())

    model, history = fit(net, loss, data, key=jax.random.key(seed), epochs=epochs,
                         batch_size=batch_size, optimizer=optax.adam(learning_rate),
                         callback=stamp, progress=False)
    return model, history, np.diff(stamps)


def bench(batch_size: int, data, epochs: int, seed: int, net_name: str = "BrajardCNN") -> dict:
    if net_name == "BrajardCNN":
        net = nets.BrajardCNN(key=jax.random.key(seed))
    else:
        net = ConvBrajardCNN(key=jax.random.key(seed))
    _, history, times = _timed_fit(net, loss_fn, data, epochs=epochs, batch_size=batch_size,
                                   seed=seed)
    steady = statistics.median(times[1:])
    n_used = (data[0].shape[0] // batch_size) * batch_size
    return {
        "net": net_name,
        "batch_size": batch_size,
        "samples_per_epoch": n_used,
        "first_epoch_s": float(times[0]),
        "epoch_s": float(steady),
        "samples_per_s": n_used / steady,
        "final_train_loss": history.train_loss[-1],
    }


def _header() -> str:
    return (
        f"{'net':<22s} {'batch':>6s} {'samples/epoch':>14s} {'1st epoch s':>12s} "
        f"{'epoch s':>9s} {'samples/s':>10s} {'train loss':>11s}\n" + "-" * 90
    )


def _format_row(r: dict) -> str:
    return (
        f"{r['net']:<22s} {r['batch_size']:6d} {r['samples_per_epoch']:14d} "
        f"{r['first_epoch_s']:12.2f} {r['epoch_s']:9.3f} {r['samples_per_s']:10.0f} "
        f"{r['final_train_loss']:11.3e}"
    )


# ----------------------------------------------------------------------------- part 2


def _block(tree):
    return jax.block_until_ready(tree)


def bench_loop(steps: int, epochs_first: int, loop_epochs: int, ensemble_size: int,
               batch_size: int, seed: int, interpolation: bool, repeats: int, say) -> dict:
    """Time the parts of one iteration of the Brajard et al. (2020) DA–ML loop."""
    out: dict = {"steps": steps, "ensemble_size": ensemble_size, "epochs": loop_epochs,
                 "epochs_first": epochs_first, "batch_size": batch_size}
    dt, q = 0.05, 1.0
    truth_model = Lorenz96(n=40, forcing=8.0, dt=dt)
    key = jax.random.key(seed)
    twin = simulate_twin(truth_model, RandomSubset(40, 0.5), DiagonalNoise(1.0), cycles=steps,
                         every_steps=1, ensemble_size=ensemble_size, key=key,
                         spinup_steps=400)
    obs, truth = twin.observations, _block(twin.truth)
    k_loop = twin_keys(key)["assimilation"]
    k_init, k_da1, k_da2, k_train = jax.random.split(k_loop, 4)

    if interpolation:  # the loop's own start (slow: scipy's triangulation)
        t0 = time.perf_counter()
        start = hybrid.space_time_interpolation(obs.y, obs.mask)
        out["interpolation_s"] = time.perf_counter() - t0
        start_weights = np.asarray(obs.mask, float)
        what = "the interpolation"
    else:  # a stand-in for a mid-loop estimate: analyses with an error of about 0.7
        start = np.asarray(truth) + 0.7 * np.random.default_rng(seed).normal(size=truth.shape)
        start_weights = np.full(truth.shape, 1.0 / (0.7**2 + 0.01))
        what = "the truth + N(0, 0.7²)"
    out["start"] = "interpolation" if interpolation else "truth + N(0, 0.7^2)"
    out["rmse_start"] = float(np.mean(np.sqrt(np.mean((start - truth) ** 2, -1))))
    if interpolation:
        say(f"interpolation: {out['interpolation_s']:.1f} s, RMSE {out['rmse_start']:.2f}")

    net = nets.BrajardCNN(key=jax.random.fold_in(key, 1), input_norm=True,
                          input_mean=float(start.mean()), input_std=float(start.std()))
    surrogate = Emulator(net, dt, mode="resolvent", noise_std=q, state_size=40)
    t0 = time.perf_counter()
    surrogate, _ = hybrid.train_surrogate(surrogate, start, start_weights,
                                          key=jax.random.fold_in(k_train, 0),
                                          epochs=epochs_first, batch_size=batch_size)
    out["first_training_s"] = time.perf_counter() - t0
    say(f"first training ({epochs_first} epochs on {what}, compilation included): "
        f"{out['first_training_s']:.1f} s")

    method = EnKF_N()
    run_da = eqx.filter_jit(lambda m, o, ens0, k, x_true: assimilate(
        m, o, method, ens0, key=k, truth=x_true, save=Save(ensembles=True)))
    ens0 = jnp.asarray(start[0]) + jax.random.normal(k_init, (ensemble_size, 40))

    def time_da(model, name):
        t0 = time.perf_counter()
        res = _block(run_da(model, obs, ens0, k_da1, truth))
        first = time.perf_counter() - t0
        calls = []
        for r in range(repeats):  # the second call, and more on a noisy machine: the best
            t0 = time.perf_counter()
            res = _block(run_da(model, obs, ens0, jax.random.fold_in(k_da2, r), truth))
            calls.append(time.perf_counter() - t0)
        best = min(calls)
        rmse = float(jnp.mean(res.rmse_analysis))
        say(f"EnKF-N pass, {name}: first call {first:.1f} s, then "
            f"{', '.join(f'{c:.2f}' for c in calls)} s, analysis RMSE {rmse:.2f}")
        return res, {"first_call_s": first, "s": best, "calls_s": calls,
                     "cycles_per_s": steps / best, "rmse_analysis": rmse}

    res, out["da_surrogate"] = time_da(surrogate, "surrogate")
    mean = np.asarray(jnp.mean(res.ensembles, axis=1))
    var = np.asarray(jnp.var(res.ensembles, axis=1, ddof=1))
    weights = 1.0 / (var + 0.01)
    _, out["da_true"] = time_da(Lorenz96(n=40, forcing=8.0, dt=dt, noise_std=q), "true L96")
    out["da_ratio"] = out["da_surrogate"]["s"] / out["da_true"]["s"]

    # training as the loop calls it: train_surrogate, warm start, on the analyses
    calls = []
    for r in range(max(repeats - 1, 1)):
        t0 = time.perf_counter()
        _block(hybrid.train_surrogate(surrogate, mean, weights, epochs=loop_epochs,
                                      key=jax.random.fold_in(k_train, 1 + r),
                                      batch_size=batch_size))
        calls.append(time.perf_counter() - t0)
    out["train_iteration_s"], out["train_calls_s"] = min(calls), calls
    # the same through fit with a per-epoch stamp: steady epochs and the compiled first one
    data = tuple(jnp.asarray(a, jnp.float32) for a in (mean[:-1], mean[1:], weights[1:]))
    _, _, times = _timed_fit(surrogate, lambda m, b: hybrid.surrogate_loss(m, b, 1e-4), data,
                             epochs=loop_epochs, batch_size=batch_size, seed=seed + 2)
    out["train_first_epoch_s"] = float(times[0])
    out["train_epoch_s"] = float(statistics.median(times[1:]))
    out["train_samples_per_s"] = (steps - 1) // batch_size * batch_size / out["train_epoch_s"]
    say(f"training, {loop_epochs} warm epochs: {out['train_iteration_s']:.1f} s "
        f"({out['train_epoch_s']:.3f} s per steady epoch, first epoch "
        f"{out['train_first_epoch_s']:.1f} s)")
    out["train_call_overhead_s"] = out["train_iteration_s"] - loop_epochs * out["train_epoch_s"]
    out["iteration_s"] = out["train_iteration_s"] + out["da_surrogate"]["s"]
    return out


def _loop_table(r: dict) -> str:
    e, n, steps = r["epochs"], r["ensemble_size"], r["steps"]
    s, t = r["da_surrogate"], r["da_true"]
    rows = []
    if "interpolation_s" in r:
        rows.append(("space-time interpolation of the observations (once)",
                     f"{r['interpolation_s']:.2f}", f"RMSE {r['rmse_start']:.2f}"))
    rows += [
        (f"first training, {r['epochs_first']} epochs (once; compilation included)",
         f"{r['first_training_s']:.2f}", f"on {r['start']}"),
        (f"training, {e} warm epochs (train_surrogate, as the loop calls it)",
         f"{r['train_iteration_s']:.2f}", f"{r['train_iteration_s'] / e:.3f} s/epoch"),
        ("  one steady epoch (fit with a per-epoch callback)",
         f"{r['train_epoch_s']:.3f}", f"{r['train_samples_per_s']:.0f} samples/s"),
        ("  first epoch, compilation included (fit)", f"{r['train_first_epoch_s']:.2f}", ""),
        (f"  rest of the call: {e} x steady epoch subtracted (compilation)",
         f"{r['train_call_overhead_s']:.2f}", ""),
        (f"EnKF-N N={n}, {steps} steps, surrogate", f"{s['s']:.2f}",
         f"{s['cycles_per_s']:.0f} cycles/s, RMSE {s['rmse_analysis']:.2f}"),
        ("  its first call (compilation included)", f"{s['first_call_s']:.2f}", ""),
        (f"EnKF-N N={n}, {steps} steps, true Lorenz-96", f"{t['s']:.2f}",
         f"{t['cycles_per_s']:.0f} cycles/s, RMSE {t['rmse_analysis']:.2f}"),
        ("  its first call (compilation included)", f"{t['first_call_s']:.2f}", ""),
        ("  ratio surrogate / true model", f"{r['da_ratio']:.2f}x", ""),
        ("one iteration (training + DA with the surrogate)", f"{r['iteration_s']:.2f}", ""),
    ]
    w = max(len(a) for a, _, _ in rows)
    lines = [f"{'part':<{w}s} {'wall s':>8s}  per unit", "-" * (w + 40)]
    lines += [f"{a:<{w}s} {b:>8s}  {c}" for a, b, c in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true",
                        help="3 epochs per batch size, 20 first-iteration epochs")
    parser.add_argument("--samples", type=int, default=4000)
    parser.add_argument("--epochs", type=int, default=None, help="epochs per batch size")
    parser.add_argument("--batch-sizes", type=int, nargs="*", default=[32, 128, 256])
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the equinox.nn.Conv1d reference net")
    parser.add_argument("--no-loop", action="store_true", help="skip part 2 (the DA–ML loop)")
    parser.add_argument("--steps", type=int, default=4000, help="part 2: observation times")
    parser.add_argument("--ensemble-size", type=int, default=30)
    parser.add_argument("--epochs-first", type=int, default=None,
                        help="part 2: epochs of the first training (60; --quick 20)")
    parser.add_argument("--loop-epochs", type=int, default=40,
                        help="part 2: warm epochs of a later iteration")
    parser.add_argument("--interpolation", action="store_true",
                        help="part 2: start from the space-time interpolation of the "
                        "observations, as the loop does, and time it (minutes)")
    parser.add_argument("--repeats", type=int, default=None,
                        help="part 2: timed calls after the compiling one, best kept (3; "
                        "--quick 1); train_surrogate gets one fewer")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", default=None, help="also write the results to this JSON file")
    args = parser.parse_args()
    epochs = args.epochs or (3 if args.quick else 6)
    if epochs < 2 or args.loop_epochs < 2:
        parser.error("--epochs and --loop-epochs must be >= 2 (the first epoch includes "
                     "compilation)")
    epochs_first = args.epochs_first or (20 if args.quick else 60)
    repeats = args.repeats or (1 if args.quick else 3)
    platform = jax.devices()[0].platform.upper()
    t_start = time.perf_counter()

    data = l96_pairs(args.samples, args.seed)
    print(f"Part 1: BrajardCNN training on Lorenz-96 (n=40), {args.samples} samples, float32 "
          f"net, {platform}, {epochs} epochs per batch size", flush=True)
    print(_header(), flush=True)
    rows = []
    for bs in args.batch_sizes:
        rows.append(bench(bs, data, epochs, args.seed))
        print(_format_row(rows[-1]), flush=True)
    if not args.no_reference:
        ours = next((r for r in rows if r["batch_size"] == 128), None) or bench(
            128, data, epochs, args.seed)
        ref = bench(128, data, min(epochs, 3), args.seed, "eqx.nn.Conv1d reference")
        rows.append(ref)
        print(_format_row(ref), flush=True)
        print(f"{'ratio (batch 128)':<22s} PeriodicConv1d is "
              f"{ref['epoch_s'] / ours['epoch_s']:.1f}x faster per epoch than eqx.nn.Conv1d")
    print("\nepoch s: median wall time of epochs 2.. (forward + backward + Adam, in one jitted "
          "lax.scan; the last partial batch is dropped); 1st epoch includes compilation.")
    result = {"training": rows}

    if not args.no_loop:
        print(f"\nPart 2: one iteration of the DA–ML loop (Brajard et al. 2020), Lorenz-96 n=40, "
              f"{args.steps} steps, half observed, sigma_o=1, {platform}", flush=True)
        loop = bench_loop(args.steps, epochs_first, args.loop_epochs, args.ensemble_size, 128,
                          args.seed, args.interpolation, repeats,
                          lambda line: print("  " + line, flush=True))
        print()
        print(_loop_table(loop))
        result["loop"] = loop
    print(f"\ntotal wall time {time.perf_counter() - t_start:.0f} s")
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
