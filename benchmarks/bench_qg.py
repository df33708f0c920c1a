"""Speed of the two-layer QG model and of an LETKF on it (``examples/letkf_qg.toml``).

The model: OOPS's two-layer QG channel on its 40 x 20 test grid (1600 variables, RK4,
hourly steps; :class:`assimilax.models.QG`). Reported, each compiled once and then timed
``--repeat`` times (best):

- one member's model step: ``forecast`` of ``--steps`` steps under ``jax.jit``, per step;
- the ensemble's model step: ``forecast_ensemble`` of the example's 20 members (``vmap``);
- the LETKF: cycles per second of the compiled driver (``assimilate`` under ``jax.jit``,
  every cycle one 6-hour forecast of 20 members and 1600 local analyses), the set-up of
  the example config built through the public API, and its analysis RMSE after the burn-in.

There is no reference implementation in this table: DAPPER's QG (Sakov's) is another,
one-layer 129 x 129 model, and OOPS's is Fortran inside a C++ framework.

    python benchmarks/bench_qg.py               # 400 cycles
    python benchmarks/bench_qg.py --quick       # 100 cycles
    python benchmarks/bench_qg.py --docs        # also the block bench_qg of docs/benchmarks.md
"""

import argparse
import json
import time
from pathlib import Path

import equinox as eqx
import jax
import numpy as np

from assimilax import da
from assimilax.experiments import (
    build,
    configure_runtime,
    load_config,
    simulate_twin,
    twin_keys,
)
from assimilax.models import forecast, forecast_ensemble

ROOT = Path(__file__).resolve().parent.parent
CONFIG = ROOT / "examples" / "letkf_qg.toml"


def best_time(call, args, repeat):
    """Seconds of the fastest of ``repeat`` calls after one compiling call."""
    jax.block_until_ready(call(*args))
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        jax.block_until_ready(call(*args))
        best = min(best, time.perf_counter() - t0)
    return best


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="100 cycles instead of 400")
    parser.add_argument("--repeat", type=int, default=3, help="timed calls (best)")
    parser.add_argument("--steps", type=int, default=240, help="model steps per timed call")
    parser.add_argument("--json", default=None, help="also write the row to this JSON file")
    parser.add_argument("--docs", action="store_true",
                        help="write the table into docs/benchmarks.md (block bench_qg)")
    args = parser.parse_args()
    configure_runtime()
    cycles = 100 if args.quick else 400
    burn_in = cycles // 4
    config = load_config(CONFIG).model_copy(deep=True)
    config.experiment.cycles, config.experiment.burn_in = cycles, burn_in
    built = build(config)
    setup, method = built.setup, built.method
    model = setup.model
    n_members = setup.ensemble_size
    key = jax.random.key(setup.seed)
    twin = eqx.filter_jit(simulate_twin)(
        setup.truth_model, setup.operator, setup.noise, cycles=cycles,
        every_steps=setup.every_steps, ensemble_size=n_members, key=key,
        spinup_steps=setup.spinup_steps, initial_std=setup.initial_std)

    x = twin.truth0
    one = eqx.filter_jit(lambda m, x: forecast(m, x, args.steps))
    t_one = best_time(one, (model, x), args.repeat) / args.steps
    ens = eqx.filter_jit(lambda m, E: forecast_ensemble(m, E, args.steps))
    t_ens = best_time(ens, (model, twin.ensemble0), args.repeat) / args.steps

    run = eqx.filter_jit(lambda m, o, e, k, t: da.assimilate(m, o, method, e, key=k,
                                                             truth=t).rmse_analysis)
    run_args = (model, twin.observations, twin.ensemble0, twin_keys(key)["assimilation"],
                twin.truth)
    t_da = best_time(run, run_args, args.repeat)
    rmse = float(np.asarray(run(*run_args))[burn_in:].mean())
    row = {
        "model": f"QG {model.nx}x{model.ny} ({model.state_size} variables)",
        "step_us": t_one * 1e6,
        "ensemble_step_us": t_ens * 1e6,
        "members": n_members,
        "letkf_cycles_per_s": cycles / t_da,
        "model_steps_per_cycle": setup.every_steps,
        "observations": setup.operator.size,
        "rmse_analysis": rmse,
        "cycles": cycles,
        "burn_in": burn_in,
        "device": jax.devices()[0].device_kind,
    }
    print(json.dumps(row, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(row, indent=2))
    if args.docs:
        from _docs import write_block

        for page in write_block("bench_qg", docs_table(row), pages=(ROOT / "docs"
                                                                    / "benchmarks.md",)):
            print(f"wrote {page}")


def docs_table(row) -> str:
    """The docs' table of one measurement."""
    from _docs import machine

    return "\n".join([
        f"Measured on {machine()}:",
        "",
        "| model | one member, µs/step | "
        f"{row['members']} members (vmap), µs/step | LETKF cycles/s | "
        "analysis RMSE | config |",
        "|---|---|---|---|---|---|",
        f"| {row['model']} | {row['step_us']:,.0f} | {row['ensemble_step_us']:,.0f} | "
        f"{row['letkf_cycles_per_s']:,.1f} | {row['rmse_analysis']:.3f} "
        f"({row['cycles']} cycles, {row['burn_in']} burn-in) | `examples/letkf_qg.toml` |",
    ])


if __name__ == "__main__":
    main()
