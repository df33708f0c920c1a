"""The TOML config contract: schema, defaults, cross-field checks, messages, builders."""

import copy
import math
import tomllib
from pathlib import Path

import jax.numpy as jnp
import numpy as np
import pytest

from assimilax import da, models, observations
from assimilax.experiments import Config, ConfigError, build, load_config
from assimilax.io import dumps_toml

EXAMPLES = sorted(p for p in (Path(__file__).parents[1] / "examples").glob("*.toml")
                  if not p.stem.startswith(("sweep_", "_")))  # sweep files: tests/test_sweep.py


def base() -> dict:
    return {
        "model": {"name": "lorenz96", "n": 40},
        "observations": {"operator": "full", "noise_std": 1.0},
        "method": {"name": "etkf", "ensemble_size": 10},
        "experiment": {"cycles": 100, "burn_in": 10},
    }


def with_(**changes) -> dict:
    """``base()`` with ``section__key=value`` changes (``None`` deletes the key)."""
    data = copy.deepcopy(base())
    for name, value in changes.items():
        section, key = name.split("__")
        data.setdefault(section, {})
        if value is None:
            data[section].pop(key, None)
        else:
            data[section][key] = value
    return data


def with_method(**method) -> dict:
    """``base()`` with this ``[method]`` section."""
    data = base()
    data["method"] = method
    return data


def issues_of(data: dict) -> str:
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    return str(info.value)


# ----------------------------------------------------------------------------- accepted


def test_default_config_is_the_documented_experiment():
    cfg = Config.default()
    assert cfg.model.name == "lorenz96" and cfg.model.n == 40 and cfg.model.forcing == 8.0
    assert cfg.model.dt == 0.05
    assert cfg.observations.operator == "full" and cfg.observations.every_steps == 1
    assert cfg.observations.noise_std == 1.0
    assert cfg.method.name == "letkf" and cfg.method.localization_radius == 4.0
    assert 1.02 <= cfg.method.inflation <= 1.04
    assert cfg.experiment.burn_in < cfg.experiment.cycles


@pytest.mark.parametrize("path", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_every_example_validates_and_round_trips(path):
    cfg = load_config(path)
    again = Config.from_dict(tomllib.loads(cfg.to_toml()))
    assert again.to_dict() == cfg.to_dict()


def test_examples_cover_every_method():
    """Every registered [method] has an example config (the registry is the list)."""
    from assimilax.experiments.config import registered

    names = {load_config(p).method.name for p in EXAMPLES if load_config(p).method}
    assert names == set(registered("method"))
    assert {p.stem for p in EXAMPLES} >= {"etkf", "enkf", "enkf_n", "letkf", "enks",
                                          "lorenz63_etkf"}


def test_sakov2012_example_is_dappers_setup():
    cfg = load_config(Path(__file__).parents[1] / "examples" / "lorenz63_etkf.toml")
    assert cfg.model.name == "lorenz63" and cfg.model.dt == 0.01
    assert cfg.observations.every_steps == 25
    assert math.isclose(cfg.observations.noise_std, math.sqrt(2))
    assert cfg.method.ensemble_size == 10 and cfg.method.inflation == 1.02 and cfg.method.rotate


@pytest.mark.parametrize(
    "name, rotate", [("etkf", True), ("enkf_n", True), ("letkf", True), ("enkf", False),
                     ("enks", False)]
)
def test_rotate_default_depends_on_method(name, rotate):
    assert Config.from_dict(with_(method__name=name)).method.rotate is rotate


def test_method_defaults():
    assert Config.from_dict(with_(method__name="letkf")).method.localization_radius == 4.0
    assert Config.from_dict(with_(method__name="enks")).method.lag == 10
    assert Config.from_dict(with_(method__name="enkf_n")).method.xN == 1.0
    assert Config.from_dict(base()).method.inflation == 1.0


@pytest.mark.parametrize(
    "model, dt, spinup",
    [("lorenz63", 0.01, 2000), ("lorenz96", 0.05, 400), ("two_scale_lorenz96", 0.005, 4000)],
)
def test_model_defaults_and_spinup(model, dt, spinup):
    data = with_(model__n=None, model__name=model)
    cfg = Config.from_dict(data)
    assert cfg.model.dt == dt
    assert cfg.model.noise_std == 0.0
    assert cfg.experiment.spinup_steps == spinup


def test_model_parameters_defaults():
    l63 = Config.from_dict(with_(model__n=None, model__name="lorenz63")).model
    assert (l63.sigma, l63.rho, l63.beta) == (10.0, 28.0, 8.0 / 3.0)
    two = Config.from_dict(with_(model__n=None, model__name="two_scale_lorenz96")).model
    assert (two.K, two.J, two.F, two.h, two.b, two.c) == (36, 10, 10.0, 1.0, 10.0, 10.0)
    assert two.state_size == 36 + 360


def test_truth_model_with_a_finer_step():
    data = with_()
    data["truth"] = {"name": "lorenz96", "n": 40, "dt": 0.01}
    cfg = Config.from_dict(data)
    assert cfg.truth_every_steps == 5
    assert cfg.experiment.spinup_steps == 2000  # 20 time units of the truth model


def test_ints_are_accepted_for_floats():
    cfg = Config.from_dict(with_(model__forcing=8, method__inflation=1))
    assert cfg.model.forcing == 8.0 and isinstance(cfg.model.forcing, float)


def test_rtps_alpha():
    cfg = Config.from_dict(with_(method__inflation_kind="rtps", method__inflation=0.7))
    assert cfg.method.inflation == 0.7


def test_to_dict_identifies_the_run_whatever_the_spelling():
    explicit = Config.from_dict(base()).to_toml()
    assert Config.from_dict(tomllib.loads(explicit)).to_dict() == Config.from_dict(base()).to_dict()
    assert Config.from_dict(with_(experiment__seed=1)).to_dict() != Config.from_dict(
        base()).to_dict()


def test_load_config_reads_toml(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text(dumps_toml(base()))
    assert load_config(path).method.ensemble_size == 10


def test_load_config_refuses_broken_toml(tmp_path):
    path = tmp_path / "broken.toml"
    path.write_text("[model\nname = 3")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_config(path)


# ----------------------------------------------------------------------------- refused


def test_messages_name_section_key_value_and_allowed_values():
    assert "[method] ensemble_size = 1: must be >= 2" in issues_of(with_(method__ensemble_size=1))
    text = issues_of(with_(model__name="lorenz97"))
    assert '[model] name = "lorenz97": unknown; allowed: lorenz63, lorenz96, ' \
           "two_scale_lorenz96" in text
    text = issues_of(with_(method__ensemble_sise=3))
    assert "[method] ensemble_sise = 3: unknown key" in text
    assert "allowed keys: name, ensemble_size, inflation, inflation_kind, rotate" in text
    assert "did you mean ensemble_size?" in text


@pytest.mark.parametrize(
    "changes, expected",
    [
        ({"method__name": "etkff"}, '[method] name = "etkff": unknown; allowed: etkf, enkf'),
        ({"observations__operator": "diagonal"}, '[observations] operator = "diagonal": unknown'),
        ({"observations__noise_std": 0.0}, "[observations] noise_std = 0.0: must be > 0"),
        ({"observations__noise_std": -1.0}, "[observations] noise_std = -1.0: must be > 0"),
        ({"model__noise_std": -0.1}, "[model] noise_std = -0.1: must be >= 0"),
        ({"model__dt": 0.0}, "[model] dt = 0.0: must be > 0"),
        ({"method__name": "letkf", "method__localization_radius": 0.0},
         "[method] localization_radius = 0.0: must be > 0"),
        ({"method__name": "letkf", "method__localization_radius": -2.0},
         "[method] localization_radius = -2.0: must be > 0"),
        ({"observations__operator": "random", "observations__fraction": 0.0},
         "[observations] fraction = 0.0: must be > 0"),
        ({"observations__operator": "random", "observations__fraction": 1.5},
         "[observations] fraction = 1.5: must be <= 1"),
        ({"observations__operator": "random"}, "[observations] fraction: required"),
        ({"experiment__burn_in": 100}, "[experiment] burn_in = 100: must be < cycles = 100"),
        ({"experiment__cycles": 0}, "[experiment] cycles = 0: must be >= 1"),
        ({"experiment__cycles": None}, "[experiment] cycles: required"),
        ({"experiment__cycles": "100"}, '[experiment] cycles = "100": must be an integer'),
        ({"experiment__cycles": 100.0}, "[experiment] cycles = 100.0: must be an integer"),
        ({"experiment__divergence_check": 1}, "[experiment] divergence_check = 1: must be true"),
        ({"model__forcing": math.inf}, "[model] forcing = inf: must be a finite number"),
        ({"method__inflation": 0.0}, "[method] inflation = 0.0: must be > 0"),
        ({"method__inflation_kind": "rtps", "method__inflation": 1.2},
         '[method] inflation = 1.2: must lie in [0, 1] when inflation_kind = "rtps"'),
        ({"method__inflation_kind": "rtpp"},
         '[method] inflation: required when inflation_kind = "rtpp"'),
        ({"method__inflation_kind": "additive"},
         '[method] inflation_kind = "additive": unknown; allowed: multiplicative, rtps, rtpp'),
        ({"method__name": "enks", "method__lag": -1}, "[method] lag = -1: must be >= 0"),
        ({"method__name": "enkf_n", "method__xN": 0.0}, "[method] xN = 0.0: must be > 0"),
        ({"method__localization_radius": 4.0},
         '[method] localization_radius = 4.0: not a key for name = "etkf" (only for name = '
         "letkf)"),
        ({"method__lag": 5}, '[method] lag = 5: not a key for name = "etkf" (only for name = '
         "enks)"),
        ({"model__forcing": None, "model__n": None, "model__name": "lorenz63",
          "model__F": 8.0},
         '[model] F = 8.0: not a key for name = "lorenz63" (only for name = '
         "two_scale_lorenz96)"),
        ({"observations__stride": 2}, '[observations] stride = 2: not a key for operator = '
         '"full" (only for operator = every)'),
        ({"observations__operator": "every", "observations__stride": 41},
         "[observations] stride = 41: must be <= the state size 40"),
        ({"observations__operator": "every", "observations__stride": 4,
          "observations__offset": 4}, "[observations] offset = 4: must be < stride = 4"),
        ({"observations__operator": "subset", "observations__indices": [0, 40]},
         "[observations] indices = [0, 40]: [40] outside the state: allowed 0 to 39"),
        ({"observations__operator": "subset", "observations__indices": [-1]},
         "[observations] indices = [-1]: [-1] outside the state"),
        ({"observations__operator": "subset", "observations__indices": [1, 1]},
         "[observations] indices = [1, 1]: contains duplicates"),
        ({"observations__operator": "subset", "observations__indices": []},
         "[observations] indices = []: must not be empty"),
        ({"observations__every_steps": 0}, "[observations] every_steps = 0: must be >= 1"),
        ({"experiment__chunk_cycles": 0}, "[experiment] chunk_cycles = 0: must be >= 1"),
        ({"experiment__initial_std": 0.0}, "[experiment] initial_std = 0.0: must be > 0"),
        ({"model__n": 2}, "[model] n = 2: must be >= 4"),
    ],
)
def test_refused(changes, expected):
    assert expected in issues_of(with_(**changes))


def test_every_issue_is_reported_at_once():
    text = issues_of(with_(method__ensemble_size=1, observations__noise_std=0.0,
                           experiment__burn_in=500))
    assert "ensemble_size = 1" in text and "noise_std = 0.0" in text and "burn_in = 500" in text


def test_unknown_and_missing_sections():
    data = base()
    data["metod"] = {"name": "etkf"}
    del data["method"]
    text = issues_of(data)
    assert "[metod]: unknown section; allowed sections: model, truth, observations, method" in text
    assert "[method]: missing section" in text
    data = base()
    data["cycles"] = 100
    assert "(top level) cycles = 100: unknown key at the top level" in issues_of(data)
    data = base()
    data["model"] = "lorenz96"
    assert '[model] = "lorenz96": must be a table' in issues_of(data)


def test_model_name_missing():
    assert "[model] name: required; allowed: lorenz63" in issues_of(with_(model__name=None))


def test_truth_must_share_the_state():
    data = base()
    data["truth"] = {"name": "lorenz63"}
    text = issues_of(data)
    assert '[truth] name = "lorenz63"' in text and "has 3 state variables" in text
    assert "forecast model has 40" in text


def test_truth_step_must_divide_the_interval():
    data = base()
    data["truth"] = {"name": "lorenz96", "dt": 0.03}
    assert "[truth] dt = 0.03: the observation interval" in issues_of(data)


def test_config_error_names_its_source(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(dumps_toml(with_(method__ensemble_size=1)))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(path) in str(info.value)
    assert [(i.section, i.key, i.value) for i in info.value.issues] == [
        ("method", "ensemble_size", 1)
    ]


# ----------------------------------------------------------------------------- build


def test_build_letkf_on_lorenz96():
    xp = build(Config.default())
    setup, method = xp.setup, xp.method
    assert isinstance(setup.model, models.Lorenz96) and setup.model.n == 40
    assert setup.truth_model is setup.model
    assert isinstance(setup.operator, observations.Full) and setup.operator.size == 40
    assert isinstance(setup.noise, observations.DiagonalNoise)
    assert setup.ensemble_size == 20 and setup.cycles == 2000
    assert isinstance(method, da.LETKF)
    assert isinstance(method.rotation, da.HaarRotation)  # rotate = true
    assert isinstance(method.localization, da.GaspariCohn)
    assert method.localization.radius == 4.0
    assert isinstance(method.inflation, da.Multiplicative)
    assert setup.interval == pytest.approx(0.05)


@pytest.mark.parametrize(
    "method, cls", [("etkf", da.ETKF), ("enkf", da.EnKF), ("enkf_n", da.EnKF_N),
                    ("letkf", da.LETKF), ("enks", da.EnKS)]
)
def test_build_methods(method, cls):
    assert isinstance(build(Config.from_dict(with_(method__name=method))).method, cls)


def test_build_enks_wraps_an_etkf():
    cfg = Config.from_dict(with_(method__name="enks", method__lag=3, method__inflation=1.05))
    method = build(cfg).method
    assert method.lag == 3 and isinstance(method.filter, da.ETKF)
    assert method.filter.inflation.factor == 1.05
    assert isinstance(method.filter.rotation, da.NoRotation)  # rotate = false for the EnKS


@pytest.mark.parametrize(
    "kind, value, cls", [("multiplicative", 1.0, da.NoInflation), ("rtps", 0.7, da.RTPS),
                         ("rtpp", 0.5, da.RTPP), ("multiplicative", 1.1, da.Multiplicative)]
)
def test_build_inflation(kind, value, cls):
    cfg = Config.from_dict(with_(method__inflation_kind=kind, method__inflation=value))
    assert isinstance(build(cfg).method.inflation, cls)


def test_build_operators():
    every = build(Config.from_dict(with_(observations__operator="every",
                                         observations__stride=4, observations__offset=1)))
    assert every.setup.operator.indices == tuple(range(1, 40, 4))
    subset = build(Config.from_dict(with_(observations__operator="subset",
                                          observations__indices=[3, 7])))
    assert subset.setup.operator.indices == (3, 7)
    rand = build(Config.from_dict(with_(observations__operator="random",
                                        observations__fraction=0.5)))
    operator = rand.setup.operator
    assert isinstance(operator, observations.RandomSubset) and operator.count == 20


def test_build_models():
    l63 = build(Config.from_dict(with_(model__n=None, model__name="lorenz63",
                                       model__rho=30.0))).setup
    assert isinstance(l63.model, models.Lorenz63) and l63.model.rho == 30.0
    two = build(Config.from_dict(with_(model__n=None, model__name="two_scale_lorenz96",
                                       model__K=8, model__J=4, model__noise_std=0.1))).setup
    assert isinstance(two.model, models.TwoScaleLorenz96)
    assert two.model.state_size == 40 and two.model.noise_std == 0.1


# ----------------------------------------------------------------------------- [ml], [hybrid]


def brajard() -> dict:
    return {
        "model": {"name": "lorenz96", "n": 40, "dt": 0.05},
        "observations": {"operator": "random", "fraction": 0.5, "noise_std": 1.0},
        "method": {"name": "enkf_n", "ensemble_size": 30},
        "experiment": {"cycles": 4000, "burn_in": 0},
        "hybrid": {"name": "iterative_emulation"},
    }


def nonnenmacher() -> dict:
    return {
        "model": {"name": "lorenz96", "n": 40, "dt": 0.0125},
        "observations": {"operator": "every", "stride": 4, "noise_std": 1.0},
        "experiment": {"cycles": 48, "burn_in": 0},
        "hybrid": {"name": "emulator_4dvar", "window": 8},
    }


def test_hybrid_defaults_are_the_papers():
    cfg = Config.from_dict(brajard())
    assert cfg.ml is None and cfg.hybrid.iterations == 15
    ml = cfg.ml_resolved
    assert (ml.network, ml.widths, ml.loss, ml.batch_size) == (
        "brajard_cnn", [24, 37], "variance_weighted", 128)
    assert cfg.hybrid.model_noise_std == 1.0 and cfg.hybrid.variance_floor == 0.01
    cfg = Config.from_dict(nonnenmacher())
    assert cfg.method is None
    assert cfg.ml_resolved.network == "deep_emulator_cnn" and cfg.ml_resolved.loss == "mse"
    assert "4D-Var with emulator gradients (window 8)" in cfg.describe()


def test_hybrid_configs_round_trip_through_toml():
    for data in (brajard(), nonnenmacher()):
        data["ml"] = {"epochs": 3, "learning_rate": 0.01}
        cfg = Config.from_dict(data)
        again = Config.from_dict(tomllib.loads(cfg.to_toml()))
        assert again.to_dict() == cfg.to_dict()
        assert again.ml.epochs == 3


@pytest.mark.parametrize("make, change, expected", [
    (brajard, {"hybrid": {"name": "iterative"}},
     '[hybrid] name = "iterative": unknown; allowed: iterative_emulation, emulator_4dvar'),
    (brajard, {"hybrid": {"name": "iterative_emulation", "iterations": 0}},
     "[hybrid] iterations = 0: must be >= 1"),
    (brajard, {"hybrid": {"name": "iterative_emulation", "window": 8}},
     '[hybrid] window = 8: not a key for name = "iterative_emulation" (only for name = '
     "emulator_4dvar)"),
    (brajard, {"ml": {"epochs": 0}}, "[ml] epochs = 0: must be >= 1"),
    (brajard, {"ml": {"network": "resnet"}}, '[ml] network = "resnet": unknown; allowed: '
     "brajard_cnn, deep_emulator_cnn"),
    (brajard, {"ml": {"epoch": 3}}, "[ml] epoch = 3: unknown key; allowed keys: network"),
    (brajard, {"ml": {"widths": []}}, "[ml] widths = []: must not be empty"),
    (brajard, {"method": {"name": "var3d"}}, '[method] name = "var3d": iterative_emulation '
     "needs an ensemble filter"),
    (brajard, {"observations": {"operator": "random", "fraction": 0.5, "every_steps": 2}},
     "[observations] every_steps = 2: must be 1 for [hybrid]"),
    (brajard, {"model": {"name": "lorenz63"}}, '[model] name = "lorenz63": [hybrid] name = '
     '"iterative_emulation" needs [model] name = "lorenz96"'),
    (nonnenmacher, {"method": {"name": "etkf", "ensemble_size": 10}},
     '[method]: not used by [hybrid] name = "emulator_4dvar"'),
    (nonnenmacher, {"observations": {"operator": "full"}},
     '[observations] operator = "full": must be "every" for [hybrid] name = "emulator_4dvar"'),
    (nonnenmacher, {"ml": {"loss": "variance_weighted"}},
     '[ml] loss = "variance_weighted": emulator_4dvar trains on true states'),
    (nonnenmacher, {"hybrid": {"name": "emulator_4dvar", "windows": 3,
                               "burn_in_windows": 3}},
     "[hybrid] burn_in_windows = 3: must be < windows = 3"),
])
def test_hybrid_refused(make, change, expected):
    data = make()
    data.update(change)
    assert expected in issues_of(data)


def test_ml_without_hybrid_and_hybrid_without_method_are_refused():
    data = base()
    data["ml"] = {"epochs": 3}
    assert "[ml]: only used by a [hybrid] method" in issues_of(data)
    data = brajard()
    del data["method"]
    assert "[method]: missing section: iterative_emulation assimilates with an ensemble" \
        in issues_of(data)


# ----------------------------------------------------------------------------- the registry


def test_the_unions_and_messages_list_the_registered_kinds():
    from assimilax.experiments.config import KINDS, registered, section_classes

    for section, kind in [("model", "model"), ("truth", "model"),
                          ("observations", "observations"), ("method", "method"),
                          ("hybrid", "hybrid")]:
        classes = registered(kind)
        assert tuple(classes.values()) == section_classes(section)
        for name, cls in classes.items():  # the tag is the registered name, given once
            assert cls.model_fields[KINDS[kind]].default == name
            assert cls.tag == KINDS[kind]
    names = list(registered("method"))
    assert names[:5] == ["etkf", "enkf", "enkf_n", "letkf", "enks"]
    data = with_(method__name="etkff")
    assert f'[method] name = "etkff": unknown; allowed: {", ".join(names)} (did you mean ' \
           "etkf?)" in issues_of(data)
    data = brajard()
    data["hybrid"]["name"] = "iterative_emulatio"
    assert "(did you mean iterative_emulation?)" in issues_of(data)


def test_cross_checks_ask_the_sections_not_their_types():
    from assimilax.experiments.config import registered

    filters = [n for n, c in registered("method").items() if c.is_ensemble_filter()]
    assert filters == ["etkf", "enkf", "enkf_n", "letkf"]
    data = brajard()
    data["method"] = {"name": "enks", "ensemble_size": 30}
    assert f'[method] name = "enks": iterative_emulation needs an ensemble filter: ' \
           f'{", ".join(filters)}' in issues_of(data)
    data = nonnenmacher()
    del data["experiment"]["cycles"]  # a schema error: [method] may still be absent
    assert "[method]: missing section" not in issues_of(data)


def test_register_adds_the_tag_and_refuses_duplicates(monkeypatch):
    from assimilax.experiments.config import EnsembleMethodSection, _registry, registered

    with pytest.raises(RuntimeError, match="already assembled"):
        _registry.register("method", "my_etkf")(type("Late", (EnsembleMethodSection,), {}))
    monkeypatch.setattr(_registry, "_closed", False)
    monkeypatch.setattr(_registry, "_REGISTRY", copy.deepcopy(_registry._REGISTRY))

    @_registry.register("method", "my_etkf")
    class MyETKFConfig(EnsembleMethodSection):
        """``name = "my_etkf"``: an ETKF under another name."""

        title = "mine"

        def build(self, model=None):
            return da.ETKF(inflation=self.build_inflation(), rotation=self.build_rotation())

    assert registered("method")["my_etkf"] is MyETKFConfig
    assert MyETKFConfig.__name__ == "MyETKFConfig"
    section = MyETKFConfig(ensemble_size=5)
    assert section.name == "my_etkf" and section.ensemble_size == 5
    assert isinstance(section.build(), da.ETKF)
    with pytest.raises(ValueError, match="already registered"):
        _registry.register("method", "etkf")(type("Again", (EnsembleMethodSection,), {}))
    with pytest.raises(ValueError, match="unknown kind"):
        _registry.register("methods", "x")


# ----------------------------------------------------------------------------- sections build


@pytest.mark.parametrize("name", ["etkf", "enkf", "enkf_n", "letkf", "enks"])
@pytest.mark.parametrize("rotate", [True, False])
def test_rotate_builds_a_rotation(name, rotate):
    method = Config.from_dict(with_(method__name=name, method__rotate=rotate)).method.build()
    filt = method.filter if name == "enks" else method
    assert isinstance(filt.rotation, da.HaarRotation if rotate else da.NoRotation)


def test_sections_build_their_core_objects():
    cfg = Config.from_dict(with_(observations__operator="every", observations__stride=2))
    model = cfg.model.build()
    assert isinstance(model, models.Lorenz96) and model.n == 40
    operator, noise = cfg.observations.build(model.grid)
    assert operator.indices == tuple(range(0, 40, 2))
    assert isinstance(noise, observations.DiagonalNoise)
    assert isinstance(cfg.method.build(model), da.ETKF)
    var3d = Config.from_dict(with_method(name="var3d")).method
    with pytest.raises(ValueError, match="needs the forecast model"):
        var3d.build()


def test_ensemble_size_and_divergence_advice_come_from_the_section():
    etkf = Config.from_dict(with_(method__inflation=1.01)).method
    assert etkf.ensemble_size == 10
    assert etkf.divergence_advice() == [
        "raise [method] inflation (now 1.01, e.g. 1.03)",
        "use more members ([method] ensemble_size, now 10)"]
    rtps = Config.from_dict(with_(method__inflation_kind="rtps", method__inflation=0.5)).method
    assert rtps.divergence_advice()[0] == "raise [method] inflation, the RTPS alpha (now 0.5)"
    letkf = Config.from_dict(with_(method__name="letkf")).method
    assert letkf.divergence_advice()[-1] == "shrink [method] localization_radius (now 4)"
    var4d = Config.from_dict(with_method(name="var4d", window=5)).method
    assert var4d.ensemble_size is None
    advice = " ".join(var4d.divergence_advice())
    assert "[method] background_scale (now 1" in advice and "[method] window (now 5)" in advice
    assert Config.from_dict(with_method(name="var3d")).method.ensemble_size is None


# ----------------------------------------------------------------------------- --set


@pytest.mark.parametrize("text, parts, value", [
    ("method.inflation=1.05", ("method", "inflation"), 1.05),
    ("experiment.cycles=200", ("experiment", "cycles"), 200),
    ("observations.indices=[0,5]", ("observations", "indices"), [0, 5]),
    ("model.name=lorenz63", ("model", "name"), "lorenz63"),
    ('model.name="lorenz63"', ("model", "name"), "lorenz63"),
    ("method.rotate=false", ("method", "rotate"), False),
    (" method . inflation = 1 ", ("method", "inflation"), 1),
    ("experiment.seed=", ("experiment", "seed"), ""),
    ("experiment.cycles=1\nx = 2", ("experiment", "cycles"), "1\nx = 2"),
])
def test_parse_override(text, parts, value):
    from assimilax.experiments.config import parse_override

    assert parse_override(text) == (parts, value)
    assert type(parse_override(text)[1]) is type(value)


def test_apply_overrides_last_wins_and_copies():
    from assimilax.experiments.config import apply_overrides

    data = base()
    out = apply_overrides(data, ["method.inflation=1.5", "method.inflation=1.03",
                                 "truth.name=lorenz96"])
    assert out["method"]["inflation"] == 1.03 and out["truth"] == {"name": "lorenz96"}
    assert data == base()  # not modified


@pytest.mark.parametrize("text", ["method.inflation", "=1", "method..inflation=1", ".x=1"])
def test_malformed_overrides_are_refused(text):
    from assimilax.experiments.config import apply_overrides

    with pytest.raises(ConfigError, match="expected section.key=value"):
        apply_overrides(base(), [text, "method.inflation=1.0"])


@pytest.mark.parametrize("override, changes", [
    ("method.ensemble_sise=3", {"method__ensemble_sise": 3}),
    ("method.localization_radius=2", {"method__localization_radius": 2}),
    ("method.inflation=0", {"method__inflation": 0}),
    ("experiment.cycles=100.0", {"experiment__cycles": 100.0}),
    ('experiment.cycles="100"', {"experiment__cycles": "100"}),
    ("experiment.cycles=many", {"experiment__cycles": "many"}),
    ("model.name=lorenz97", {"model__name": "lorenz97"}),
    ("observations.indices=[0,99]", {"observations__operator": "subset",
                                     "observations__indices": [0, 99]}),
    ("metod.name=etkf", {"metod__name": "etkf"}),
    ("cycles=5", None),
])
def test_overrides_are_validated_like_the_file(tmp_path, override, changes):
    data = base()
    if override.startswith("observations.indices"):
        data["observations"]["operator"] = "subset"
    path = tmp_path / "x.toml"
    path.write_text(dumps_toml(data))
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides=[override])
    if changes is None:
        expected = copy.deepcopy(base())
        expected["cycles"] = 5
    else:
        expected = with_(**changes)
    assert info.value.issues == issues_in(expected)
    assert f"{path} --set {override}" in str(info.value)


def issues_in(data: dict) -> list:
    with pytest.raises(ConfigError) as info:
        Config.from_dict(data)
    return info.value.issues


def test_overrides_of_a_file_the_default_and_a_config(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text(dumps_toml(base()))
    cfg = load_config(path, overrides=["method.name=letkf", "method.localization_radius=2",
                                       "experiment.cycles=300"])
    assert cfg.method.name == "letkf" and cfg.method.localization_radius == 2.0
    assert cfg.experiment.cycles == 300
    assert tomllib.loads(cfg.to_toml())["experiment"]["cycles"] == 300
    default = Config.default(["experiment.cycles=50", "experiment.burn_in=5"])
    assert default.experiment.cycles == 50 and default.method.name == "letkf"
    assert Config.default([]) == Config.default()
    again = cfg.with_overrides(["method.inflation=1.1"])
    assert again.method.inflation == 1.1 and again.method.localization_radius == 2.0
    assert cfg.with_overrides([]) is cfg
    with pytest.raises(ConfigError, match="--set method.lag=3"):
        cfg.with_overrides(["method.lag=3"])


def _truncated(truth_name="two_scale_lorenz96", n=36):
    return {
        "model": {"name": "lorenz96", "n": n, "forcing": 10.0, "dt": 0.01},
        "truth": {"name": truth_name, "dt": 0.005},
        "observations": {"operator": "every", "stride": 2, "every_steps": 5,
                         "noise_std": 1.0},
        "method": {"name": "enkf_n", "ensemble_size": 10},
        "experiment": {"cycles": 4, "burn_in": 0, "spinup_steps": 10},
    }


def test_a_truncated_model_twin_observes_and_scores_the_truth_it_resolves():
    """[truth] two-scale Lorenz-96 with a one-scale [model] of n = K: the truth's slow
    variables are the twin's truth (Brajard et al. 2021; Farchi et al. 2021)."""
    from assimilax.experiments import simulate_setup

    xp = build(Config.from_dict(_truncated()))
    assert xp.setup.truth_model.state_size == 396 and xp.setup.model.state_size == 36
    twin, obs = simulate_setup(xp.setup)
    assert twin.truth.shape == (4, 36) and twin.ensemble0.shape == (10, 36)
    assert obs.y.shape == (4, 18) and obs.every_steps == 5
    # The truth is the slow part of a full two-scale run, observed every 10 of its steps.
    full = models.TwoScaleLorenz96(dt=0.005)
    np.testing.assert_array_equal(full.project(jnp.arange(396.0), 36), jnp.arange(36.0))
    assert full.resolves(36) and full.resolves(396) and not full.resolves(40)


def test_a_truth_that_does_not_resolve_the_model_is_refused():
    with pytest.raises(ConfigError, match=r"resolve it: two_scale_lorenz96 for a lorenz96 "
                                          r"of n = K") as info:
        Config.from_dict(_truncated(n=40))
    assert [(i.section, i.key) for i in info.value.issues] == [("truth", "name")]
