"""adkit.nn.models, Keras's `keras.models`: `Sequential`, `Model` and `load_model`.

`load_model` turns a model file into a model without trusting the file's sizes:

1. `model_file.open_model_file` checks the archive, the config and every array's .npy
   header against the member that holds it; no array data is read yet.
2. The model's structure is built from the config (layers, shapes), and the
   weights the config implies are computed as shapes only: each layer's
   `init_params` runs with its weight initialiser replaced by a zero-stride
   placeholder, so a config that claims a 5 GB layer costs nothing to inspect.
3. Those shapes and dtypes are compared with the stored arrays; only when they
   all agree are the arrays read, each into a buffer of its declared size, and
   handed to the model as its weights (nothing is initialised and then replaced).
"""

from __future__ import annotations

import copy
import functools
import json
import math
import os
from typing import Any, Iterator

import numpy as np

from adkit.pytree import tree_flatten

from . import initializers, keras_weights, legacy_h5, losses
from .custom_objects import custom_object_scope
from .layers.base import Layer, deserialize, nested, serialize
from .layers.input_layer import InputLayer
from .functional import Model, from_config
from .keras_config import archive_config, is_keras_config, model_from_keras
from .model import Sequential, unbuilt_sequential
from .model_file import ModelFile, ModelFileError, open_model_file
from .seeding import fresh_seed
from .subclassed_model import is_subclass_with_call

__all__ = ["Sequential", "Model", "load_model", "ModelFileError", "model_from_json",
           "clone_model"]

#: a layer with weights may output more features than the file stores values for
#: it only up to this many (see _check_features)
MAX_UNBACKED_FEATURES = 1 << 16

# What building layers from a hostile config can raise: bad argument types and
# values, absurd sizes, and whatever arithmetic those feed.
_CONFIG_ERRORS = (KeyError, TypeError, ValueError, AttributeError, IndexError,
                  ArithmeticError, RecursionError, MemoryError)


def load_model(path: str | os.PathLike, custom_objects: dict | None = None,
               compile: bool = True, safe_mode: bool = True) -> Sequential | Model:
    """A model saved by `model.save`, recompiled (with its optimizer state) when it was
    compiled. Anything that is not such a file is refused with `ModelFileError`
    naming the file and the reason (`FileNotFoundError` when there is no file).
    A legacy HDF5 model file (`model.save("x.h5")`, adkit's or Keras's) is read by
    nn/legacy_h5.py. `custom_objects` maps the names of your own losses, metrics and
    activations the file uses to them, as in Keras (see nn/custom_objects.py);
    `safe_mode` is Keras's, and always on: nothing in a file is ever executed.

    Limits, all checked before any array is allocated:

    - every array's shape and dtype must equal what the config's layers imply and
      what its .npy header and zip member say; its member must hold exactly that
      many bytes, and reading stops there, so loading allocates no more than the
      arrays' own size (plus the model structure);
    - members are stored or deflated, and a deflated member may declare at most
      1032 times its compressed size (deflate's maximum expansion); members may
      not overlap or repeat, and none may be encrypted;
    - model.json is at most 16 MiB and nests lists and dicts at most 64 deep;
      a .npy header is at most 10,000 bytes (NumPy's own limit), version 1.0 or 2.0;
    - arrays are float (weights, in the layer's dtype; optimizer slots), or int or
      uint (step counter, random-generator state); layers compute in a float dtype;
    - the weights the config implies are computed as shapes, without memory, except
      per-feature vectors (BatchNormalization, LSTM peepholes); so a layer with
      weights may not output more features than the file stores values for it
      (beyond 65,536, which costs at most a few MB to check).

    >>> import tempfile, os; from adkit.nn import Sequential, load_model
    >>> from adkit.nn.layers import Dense
    >>> path = os.path.join(tempfile.mkdtemp(), "m.adkit")
    >>> Sequential([Dense(2, input_shape=(3,))], seed=0).save(path)
    >>> load_model(path).count_params()
    8
    """
    with custom_object_scope(custom_objects):
        if legacy_h5.is_hdf5(path):
            return legacy_h5.load_model_h5(path, model_from_json, compile)
        return _load_or_explain(path, compile)


def _load_or_explain(path: str | os.PathLike, compile: bool) -> Sequential | Model:
    try:
        return _load(path, compile)
    except ModelFileError:
        if keras_weights.is_keras_archive(path):
            return _load_keras_archive(path, compile)
        raise


def _load_keras_archive(path: str | os.PathLike, compile: bool) -> Sequential | Model:
    """A model from Keras 3's .keras archive: its config.json built with adkit.nn's layers
    (nn/keras_config.py), its model.weights.h5 read into them (nn/keras_weights.py), and
    compiled as its compile_config says when compile=True (the optimizer starts afresh:
    Keras's optimizer variables are not read)."""
    where = f"load_model({os.fspath(path)!r}, Keras 3's .keras archive)"
    try:
        spec = archive_config(path)
        model = model_from_config(spec.get("class_name"), spec.get("config"), where)
    except ValueError as e:
        raise ModelFileError(str(e)) from None
    keras_weights.load_keras_weights(model, path)
    settings = spec.get("compile_config")
    if compile and isinstance(settings, dict) and settings.get("optimizer") is not None:
        options = {key: settings[key] for key in ("loss", "metrics", "loss_weights",
                                                  "weighted_metrics")
                   if settings.get(key) is not None}
        try:
            model.compile(optimizer=settings["optimizer"], **options)
        except (TypeError, ValueError, KeyError) as e:
            raise ModelFileError(f"{where}: its compile settings are not ones adkit.nn "
                                 f"takes ({type(e).__name__}: {e}); load it with "
                                 "compile=False and call model.compile") from None
    return model


def _load(path: str | os.PathLike, compile: bool) -> Sequential | Model:
    with open_model_file(path) as f:
        if f.config["model"].get("class_name") == "Model":
            return _load_functional(f, compile)
        model, shapes = _structure(f)
        probes, implied = _implied_weights(f, model, shapes)
        _check_arrays(f, implied)
        arrays = {name: f.read(name) for name in implied}
        params = {layer.name: _replaced(p, f"params/{layer.name}/", arrays)
                  for layer, (p, _) in zip(model.layers, probes)}
        state = {layer.name: _replaced(s, f"state/{layer.name}/", arrays)
                 for layer, (_, s) in zip(model.layers, probes) if layer.has_state}
        with _config_errors(f, "the model config is invalid"):
            model.build_for_example(shapes[0], weights=(params, state))
        if compile and "compile" in f.config:
            optimizer_state = {name[len("optimizer/"):]: f.read(name)
                               for name in f.arrays if name.startswith("optimizer/")}
            _compile(f, model, optimizer_state)
    return model


def _load_functional(f: ModelFile, compile: bool) -> Model:
    """A functional Model from its graph config, its weights checked as load_model's."""
    spec = f.config["model"]
    with _config_errors(f, "the model config is invalid"):
        layers, _, _ = _layers_name_seed(spec)
        model = from_config(spec, layers)
    implied: dict[str, Any] = {}
    params: dict[str, dict] = {}
    state: dict[str, dict] = {}
    with _config_errors(f, "the model config is invalid"):
        for layer in model.layers:
            shape = model._layer_shapes.get(layer.name)
            if shape is None:
                params[layer.name] = {}
                continue
            # as first called: its call's options (Attention's masks) shape its inputs
            options = next(n.options for n in model.nodes if n.layer is layer)
            out = layer.compute_output_shape(shape, **options)
            _check_features(f, layer, out[0] if isinstance(out, list) else out)
            p, st = _probe(layer, shape)
            params[layer.name] = p
            if layer.has_state:
                state[layer.name] = st
            implied.update((f"params/{layer.name}/{k}", w) for k, w in _leaves(p))
            implied.update((f"state/{layer.name}/{k}", w) for k, w in _leaves(st))
    _check_arrays(f, implied)
    arrays = {name: f.read(name) for name in implied}
    params = {k: _replaced(p, f"params/{k}/", arrays) for k, p in params.items()}
    state = {k: _replaced(s, f"state/{k}/", arrays) for k, s in state.items()}
    with _config_errors(f, "the model config is invalid"):
        model.build(weights=(params, state))
    if compile and "compile" in f.config:
        optimizer_state = {name[len("optimizer/"):]: f.read(name)
                           for name in f.arrays if name.startswith("optimizer/")}
        _compile(f, model, optimizer_state)
    return model


def _layers_name_seed(spec: dict) -> tuple[list[Layer], str, int]:
    """The config's layers (each computing in a float dtype), the model's name and seed;
    ValueError naming what is wrong."""
    if not isinstance(spec.get("layers"), list) or not spec["layers"]:
        raise ValueError("it has no list of layers")
    layers = [deserialize(c) for c in spec["layers"]]
    for layer in layers:
        for inner in nested(layer):
            # an Input may hold integers or booleans (token ids, an attention mask)
            if inner.dtype.kind != "f" and not isinstance(inner, InputLayer) \
                    and not getattr(inner, "preprocesses_on_host", False):   # StringLookup
                raise ValueError(f"layer {inner.name!r} has dtype {inner.dtype}; layers "
                                 "compute in float16, float32 or float64")
    name, seed = spec.get("name"), spec.get("seed")
    if not isinstance(name, str):
        raise ValueError(f"the model's name {name!r} is not a string")
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed < 2**64:
        raise ValueError(f"the model's seed {seed!r} is not an int in [0, 2**64)")
    return layers, name, seed


def _structure(f: ModelFile) -> tuple[Sequential, list[tuple]]:
    """The model with its layers (not built) and each layer's input shape, then the output."""
    spec = f.config["model"]
    with _config_errors(f, "the model config is invalid"):
        if not isinstance(spec.get("layers"), list) or not spec["layers"]:
            raise ValueError("it has no list of layers")
        if not isinstance(spec.get("input_shape"), list):
            raise ValueError("it has no input_shape (the saved model was not built)")
        layers, name, seed = _layers_name_seed(spec)
        model = unbuilt_sequential(layers, name, seed)   # the weights come from the file
        first_shape = layers[0].input_shape
        shape = tuple(None if s is None else int(s) for s in spec["input_shape"])
        if any(s is not None and s <= 0 for s in shape):
            raise ValueError(f"input_shape {list(shape)} has a dimension <= 0")
        if first_shape is not None and tuple(first_shape) != shape:
            raise ValueError(f"the model's input_shape {list(shape)} differs from its first "
                             f"layer's {list(first_shape)}")
        shapes = [shape]
        for layer in layers:
            shapes.append(tuple(layer.compute_output_shape(shapes[-1])))
    return model, shapes


def _implied_weights(f: ModelFile, model: Sequential,
                     shapes: list[tuple]) -> tuple[list[tuple[dict, dict]], dict[str, Any]]:
    """Each layer's (params, state) as placeholders, and {"params/<layer>/<name>" or
    "state/<layer>/<name>": placeholder} for every weight the config implies, each a
    zero-stride array of the right shape and dtype."""
    probes = []
    implied: dict[str, Any] = {}
    with _config_errors(f, "the model config is invalid"):
        for layer, in_shape, out_shape in zip(model.layers, shapes, shapes[1:]):
            _check_features(f, layer, out_shape)
            params, state = _probe(layer, in_shape)
            probes.append((params, state))
            implied.update((f"params/{layer.name}/{k}", w) for k, w in _leaves(params))
            implied.update((f"state/{layer.name}/{k}", w) for k, w in _leaves(state))
    return probes, implied


def _check_features(f: ModelFile, layer: Layer, out_shape: tuple) -> None:
    """Refuse a layer with weights whose output's last axis (features, channels, units)
    outnumbers the values the file stores for it. The probe allocates per-feature
    vectors for real (BatchNormalization's scale and statistics, LSTM peepholes), so
    this keeps it within the file's own size; every genuine layer with weights stores
    at least as many values as it has output features."""
    if type(layer).init_params is Layer.init_params and not layer.has_state:
        return   # no weights, nothing allocated
    features = out_shape[-1] if out_shape and out_shape[-1] is not None else 1
    prefixes = (f"params/{layer.name}/", f"state/{layer.name}/")
    stored = sum(math.prod(a.shape) for n, a in f.arrays.items() if n.startswith(prefixes))
    if features > max(stored, MAX_UNBACKED_FEATURES):
        raise f.error(f"layer {layer.name!r} outputs {features} features, but the file stores "
                      f"only {stored} values for its weights; the config does not match them")


def _probe(layer: Layer, input_shape: tuple) -> tuple[dict, dict]:
    """(params, state) as `layer` would initialise them, with every weight drawn through
    an initialiser replaced by a placeholder: shapes and dtypes exact, no memory used."""
    layers = list(nested(layer))
    for inner in layers:
        # An instance attribute shadows Layer._weight, the one path every layer's
        # initialisers take, for these freshly built layers only.
        inner._weight = functools.partial(_placeholder, inner.dtype)
    try:
        params = layer.init_params(np.random.default_rng(0), input_shape)
        state = layer.init_state(input_shape) if layer.has_state else {}
    finally:
        for inner in layers:
            del inner._weight
    return params, state


def _placeholder(dtype: np.dtype, rng: Any, initializer: Any, shape: tuple) -> np.ndarray:
    initializers.get(initializer)   # an unknown name is refused as it would be on build
    return np.lib.stride_tricks.as_strided(np.zeros(1, dtype), shape=tuple(shape),
                                           strides=(0,) * len(shape))


def _leaves(tree: dict, prefix: str = "") -> Iterator[tuple[str, Any]]:
    for k, v in tree.items():
        if isinstance(v, dict):
            yield from _leaves(v, f"{prefix}{k}/")
        else:
            yield f"{prefix}{k}", v


def _check_arrays(f: ModelFile, implied: dict[str, Any]) -> None:
    """Every implied weight is stored with its shape and dtype; nothing else is stored
    but optimizer state."""
    for name, w in implied.items():
        stored = f.arrays.get(name)
        if stored is None:
            raise f.error(f"has no weights for {name}")
        if stored.shape != w.shape:
            raise f.error(f"{name} has shape {stored.shape}, but the config builds {w.shape}")
        if stored.dtype != w.dtype:
            raise f.error(f"{name} has dtype {stored.dtype}, but its layer computes in "
                          f"{w.dtype}")
    unused = [n for n in f.arrays if n not in implied and not n.startswith("optimizer/")]
    if unused:
        raise f.error(f"holds arrays the config does not use: {unused[:5]}; the file was "
                      "edited or damaged")


def _replaced(tree: dict, prefix: str, arrays: dict[str, np.ndarray]) -> dict:
    """The probe's nested dict with each placeholder replaced by the file's array."""
    return {k: _replaced(v, f"{prefix}{k}/", arrays) if isinstance(v, dict)
            else arrays[prefix + k] for k, v in tree.items()}


def _compile(f: ModelFile, model: Sequential | Model, optimizer_state: dict[str, np.ndarray]) -> None:
    c = f.config["compile"]
    with _config_errors(f, "the compile settings are invalid"):
        if not isinstance(c, dict):
            raise ValueError(f"'compile' is {type(c).__name__}, not a dict")
        extra = {k: c[k] for k in ("loss_weights", "jit_compile") if k in c}
        model.compile(optimizer=c["optimizer"], loss=losses.from_saved(c["loss"]),
                      metrics=c["metrics"], **extra)
    if not optimizer_state:
        return
    trainable = tree_flatten(model.trainable_part(model.params))[0]
    with _config_errors(f, "the optimizer state is invalid"):
        for key, value in optimizer_state.items():
            slot, _, index = key.rpartition("/")
            if slot and index.isdigit():
                i = int(index)
                if i >= len(trainable) or value.shape != model.optimizer.slot_shape(
                        slot, trainable[i].shape):
                    raise ValueError(f"{key!r} has shape {value.shape}, but the model has "
                                     f"{len(trainable)} trainable weights"
                                     + (f" and weight {i} has shape {trainable[i].shape}"
                                        if i < len(trainable) else ""))
        model.optimizer.set_variables(optimizer_state)


class _config_errors:
    """Turn what a hostile config makes the layer and optimizer code raise into a
    ModelFileError naming the file."""

    def __init__(self, f: ModelFile, what: str) -> None:
        self.f, self.what = f, what

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: Any, error: Any, tb: Any) -> bool:
        if error is None or isinstance(error, ModelFileError) \
                or not isinstance(error, _CONFIG_ERRORS):
            return False
        raise self.f.error(f"{self.what} ({type(error).__name__}: {error})") from None



def model_from_json(json_string: str, custom_objects: dict | None = None) -> Sequential | Model:
    """The model `model.to_json()` describes, built with fresh weights (from the config's
    seed), as Keras's keras.models.model_from_json; give it trained weights with
    set_weights or load_weights. Layers are found by class name among adkit.nn's and
    the Layer subclasses defined in the program (so custom_objects, Keras's way of
    naming them, may list such classes and nothing else).

    >>> from adkit.nn import Sequential
    >>> from adkit.nn.layers import Dense
    >>> model = Sequential([Dense(2, input_shape=(3,), name="d")], seed=0)
    >>> model_from_json(model.to_json()).layers[0].name
    'd'
    """
    check_custom_objects(custom_objects, "model_from_json")
    if not isinstance(json_string, (str, bytes, bytearray)):
        raise TypeError(f"model_from_json takes the string model.to_json() returns, got "
                        f"{type(json_string).__name__}")
    try:
        spec = json.loads(json_string)
    except json.JSONDecodeError as e:
        raise ValueError(f"model_from_json: the string is not JSON ({e})") from None
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ValueError("model_from_json: expected {'class_name': ..., 'config': {...}} as "
                         "model.to_json() writes it")
    return model_from_config(spec.get("class_name"), spec["config"], "model_from_json")


def check_custom_objects(custom_objects: dict | None, who: str) -> None:
    """Keras's custom_objects: here only the program's Layer subclasses, each under its
    class name (a config names layers by class; they are known once defined)."""
    for name, obj in (custom_objects or {}).items():
        if Layer.REGISTRY.get(name) is not obj:
            raise ValueError(f"{who}: custom object {name!r} ({obj!r}) is not a "
                             "Layer subclass of that class name; a config names layers by "
                             "class, and Layer subclasses are known once defined")


def model_from_config(class_name: str, config: dict, who: str) -> Sequential | Model:
    """A built model (fresh weights) from a model's config: adkit's own get_config() or
    Keras 3's (nn/keras_config.py). Errors name `who` and what is wrong."""
    if class_name not in ("Sequential", "Functional", "Model"):
        raise ValueError(f"{who}: unknown model class {class_name!r}; known: "
                         "'Sequential', 'Functional'")
    if not isinstance(config, dict):
        raise ValueError(f"{who}: the model's config is not a dict")
    keras = is_keras_config(config)
    try:
        if keras:
            return model_from_keras(class_name, config)
        if class_name == "Sequential":
            layers = [deserialize(c) for c in config.get("layers") or []]
            return _built_sequential(layers, config)
        model = from_config(config)
        model.build()
        return model
    except (KeyError, TypeError, ValueError, AttributeError) as e:
        whose = "Keras " if keras else ""
        raise ValueError(f"{who}: the {whose}{class_name} config is invalid "
                         f"({type(e).__name__}: {e})") from None


def _built_sequential(layers: list[Layer], config: dict) -> Sequential:
    """A Sequential of `layers` with the config's name and seed, built (initialised from
    that seed) when the config or its first layer gives the input shape."""
    if not layers:
        raise ValueError("it has no layers")
    model = unbuilt_sequential(layers, config.get("name"), config.get("seed"))
    shape = config.get("input_shape") or layers[0].input_shape
    if shape is not None:
        model.build_for_example(tuple(shape))
    return model


def clone_model(model: Sequential | Model, input_tensors: Any = None,
                clone_function: Any = None, call_function: Any = None,
                recursive: bool = False, **kwargs: Any) -> Sequential | Model:
    """A new model with `model`'s architecture (the same layer configs and names) and
    fresh weights drawn from a new seed, not compiled: Keras's keras.models.clone_model.
    clone_function(layer) -> layer replaces how each layer is copied (default: a new
    layer from its config); a Model or Sequential inside is copied with new weights too.
    Subclassed models are code and are refused, as are input_tensors and call_function.

    >>> from adkit.nn import Sequential
    >>> from adkit.nn.layers import Dense
    >>> model = Sequential([Dense(2, input_shape=(3,))], seed=0)
    >>> twin = clone_model(model)
    >>> twin.count_params() == model.count_params(), twin.seed != model.seed
    (True, True)
    """
    if kwargs:
        raise TypeError(f"clone_model got unexpected arguments {sorted(kwargs)}")
    kind = getattr(type(model), "_json_class_name", None)   # "Sequential" or "Functional"
    if kind is None:
        raise TypeError(f"clone_model takes a Sequential or functional Model, got "
                        f"{type(model).__name__}")
    if is_subclass_with_call(type(model)):
        raise TypeError(f"clone_model copies Sequential and functional models; "
                        f"{type(model).__name__} is a subclassed model (its layers are code): "
                        "make a new instance of its class instead")
    for name, given in (("input_tensors", input_tensors), ("call_function", call_function)):
        if given is not None:
            raise NotImplementedError(f"clone_model: {name} is not supported; clone the model, "
                                      "then call the clone on new inputs (clone(inputs))")
    seeds = np.random.default_rng(fresh_seed())
    config = _reseeded(copy.deepcopy(model.get_config()), seeds)

    def copy_layer(layer: Layer) -> Layer:
        if clone_function is None or isinstance(layer, InputLayer):
            return deserialize(_reseeded(serialize(layer), seeds))
        return clone_function(layer)

    layers = [copy_layer(layer) for layer in model.layers]
    if kind == "Sequential":
        if model.params is None and model.__dict__.get("_declared_input_shape") is not None:
            config["input_shape"] = list(model._declared_input_shape)
        return _built_sequential(layers, config)
    clone = from_config(config, layers)
    clone.build()
    return clone


def _reseeded(config: Any, seeds: np.random.Generator) -> Any:
    """config with every model seed in it (the model's own, nested models') drawn anew."""
    if isinstance(config, dict):
        out = {k: _reseeded(v, seeds) for k, v in config.items()}
        if "seed" in out and ("layers" in out):
            out["seed"] = int(seeds.integers(2**32))
        return out
    if isinstance(config, list):
        return [_reseeded(v, seeds) for v in config]
    return config


def _sequential_from_config(cls: type, config: dict,
                            custom_objects: dict | None = None) -> Sequential:
    """Keras's Sequential.from_config: the model, built with fresh weights, from
    get_config() - adkit's, or Keras 3's own (a real Keras model's get_config())."""
    check_custom_objects(custom_objects, f"{cls.__name__}.from_config")
    return model_from_config("Sequential", config, f"{cls.__name__}.from_config")


def _functional_from_config(cls: type, config: dict,
                            custom_objects: dict | None = None) -> Any:
    """Keras's Model.from_config: the model, built with fresh weights, from
    get_config() - adkit's, or Keras 3's own (a real Keras model's get_config()).
    A subclass of Model gets `cls(**config)`, its constructor's arguments, as Keras
    does for a subclassed model without a graph config."""
    if cls is not Model and not (isinstance(config, dict) and "layers" in config):
        return cls(**config)
    check_custom_objects(custom_objects, f"{cls.__name__}.from_config")
    return model_from_config("Functional", config, f"{cls.__name__}.from_config")


# from_config needs model_from_config, which builds either class: the classmethods are
# attached here, where both are known, so that neither class's module imports this one
Sequential.from_config = classmethod(_sequential_from_config)
Model.from_config = classmethod(_functional_from_config)
