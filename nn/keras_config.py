"""Models from Keras 3's own configs: what `keras_model.to_json()` and
`keras_model.get_config()` write, read into adkit.nn layers.

Keras 3 wraps every object as {"module", "class_name", "config", "registered_name"},
gives each layer a DTypePolicy dict for its dtype, an InputLayer a batch_shape (batch
axis first), and a functional model's layers their calls as "inbound_nodes" whose
arguments name tensors by keras_history [layer, call, output]. Here:

- a layer is adkit's class of the same name (or a Layer subclass the program defined);
  an unknown class is refused by name;
- Keras's entries an adkit layer does not take are dropped when they hold Keras's
  "off" value (quantization_config None, data_format "channels_last", sparse False, ...)
  and refused by name otherwise, so nothing Keras configured is silently lost;
- a functional model's calls are replayed in dependency order with the layers' own
  __call__ (so keyword tensors such as MultiHeadAttention's value= work as in code).

The model comes back built with fresh weights; Keras's weights then load with
`model.load_weights("....weights.h5")` (nn/keras_weights.py), as in Keras.
"""

from __future__ import annotations

import inspect
import json
import zipfile
import zlib
from typing import Any

from .layers.base import Layer, _is_adkits
from .layers.input_layer import InputLayer, input_tensor
from .layers.nodes import KerasTensor

#: Keras 3 config entries that some adkit layers do not take, with the values that
#: mean "not used" (Keras's defaults); any other value is refused by name
INERT_ENTRIES: dict[str, tuple] = {
    "quantization_config": (None,),
    "activity_regularizer": (None,),
    "embeddings_constraint": (None,),
    "embeddings_regularizer": (None,),
    "lora_rank": (None,),
    "lora_alpha": (None,),
    "data_format": ("channels_last", None),
    "sparse": (False, None),
    "ragged": (False, None),
    "optional": (False,),
    "input_tensor": (None,),
    "seed": (None,),
    "noise_shape": (None,),
    "zero_output_for_mask": (False,),
    "unroll": (False,),
    "autocast": (True,),
}

#: the largest config.json of a .keras archive that is read (as model files' model.json)
CONFIG_LIMIT = 16 << 20

#: class names of models inside a config (a nested model is one layer of another)
MODEL_CLASS_NAMES = ("Sequential", "Functional", "Model")


def is_keras_config(config: Any) -> bool:
    """Whether a model config is Keras 3's (layers wrapped with "module", or a functional
    graph given by "input_layers") rather than adkit's own get_config().

    >>> is_keras_config({"layers": [{"module": "keras.layers", "class_name": "Dense",
    ...                              "config": {"units": 1}}]})
    True
    >>> is_keras_config({"layers": [{"class_name": "Dense", "config": {"units": 1}}]})
    False
    """
    if not isinstance(config, dict):
        return False
    if "input_layers" in config or "build_input_shape" in config:
        return True
    layers = config.get("layers")
    return isinstance(layers, list) and any(
        isinstance(spec, dict) and ("module" in spec or "registered_name" in spec
                                    or "inbound_nodes" in spec) for spec in layers)


def model_from_keras(class_name: str, config: dict) -> Any:
    """A built model (fresh weights) from Keras 3's config of a Sequential or a
    functional Model (class_name "Sequential", "Functional" or "Model")."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise ValueError(f"the Keras {class_name} config has no list of layers")
    if class_name == "Sequential" or "input_layers" not in config:
        model = _sequential(config)
    else:
        model = _functional(config)
    if config.get("trainable") is False:
        model.trainable = False
    return model


def archive_config(path: Any) -> dict:
    """The model config (config.json: {"class_name", "config", "compile_config", ...})
    of Keras 3's .keras archive at `path`, read no further than CONFIG_LIMIT bytes."""
    try:
        with zipfile.ZipFile(path) as archive, archive.open("config.json") as member:
            text = member.read(CONFIG_LIMIT + 1)
    except KeyError:
        raise ValueError(f"{path!r}: the .keras archive has no config.json") from None
    except (zipfile.BadZipFile, OSError, EOFError, zlib.error) as e:
        raise ValueError(f"{path!r}: the .keras archive is damaged ({e})") from None
    if len(text) > CONFIG_LIMIT:
        raise ValueError(f"{path!r}: config.json is larger than {CONFIG_LIMIT} bytes")
    try:
        spec = json.loads(text)
    except (ValueError, RecursionError) as e:
        raise ValueError(f"{path!r}: config.json is not JSON ({e})") from None
    if not isinstance(spec, dict):
        raise ValueError(f"{path!r}: config.json is not a model config")
    return spec


def layer_from_keras(spec: Any) -> Any:
    """An adkit.nn layer (or, for a model inside the config, that model) from Keras 3's
    {"module", "class_name", "config", ...} of one layer.

    >>> layer = layer_from_keras({"module": "keras.layers", "class_name": "Dense",
    ...     "config": {"name": "out", "units": 3, "quantization_config": None,
    ...                "dtype": {"module": "keras", "class_name": "DTypePolicy",
    ...                          "config": {"name": "float32"}}}})
    >>> type(layer).__name__, layer.name, layer.units
    ('Dense', 'out', 3)
    """
    if not isinstance(spec, dict) or not isinstance(spec.get("config"), dict):
        raise ValueError(f"a layer in the Keras config is not {{'class_name': ..., "
                         f"'config': {{...}}}}: {str(spec)[:200]}")
    class_name = spec.get("class_name")
    if class_name in MODEL_CLASS_NAMES:
        return model_from_keras(class_name, spec["config"])
    cls = Layer.REGISTRY.get(class_name) if isinstance(class_name, str) else None
    if cls is None:
        raise ValueError(f"the Keras config has a layer of class {class_name!r}, which "
                         "adkit.nn does not have; known layers: "
                         f"{', '.join(sorted(Layer.REGISTRY))}")
    return cls.from_config(layer_kwargs(cls, spec["config"]))


def layer_kwargs(cls: type, config: dict) -> dict:
    """Keras's config of a `cls` layer as the keyword arguments adkit's `cls` takes:
    DTypePolicy dicts as dtype names, nested layer configs (a wrapper's layer) read the
    same way, Keras-only entries at their "off" values dropped, others refused by name.

    >>> from adkit.nn.layers import Flatten
    >>> policy = {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}
    >>> layer_kwargs(Flatten, {"name": "f", "dtype": policy})
    {'name': 'f', 'dtype': 'float32'}
    """
    who = f"layer {config.get('name')!r} ({cls.__name__})"
    out = {key: _plain(value, who) for key, value in config.items()}
    if "dtype" in out:
        out["dtype"] = dtype_name(out["dtype"], who)
    if not _is_adkits(cls):   # the program's own Layer subclass reads its own config
        return out
    accepted = accepted_arguments(cls)
    if accepted is None:
        return out
    for key in [k for k in out if k not in accepted]:
        value = out.pop(key)
        if value not in INERT_ENTRIES.get(key, (None,)):
            raise ValueError(f"{who}: Keras's setting {key}={value!r} is not supported by "
                             f"adkit.nn's {cls.__name__}; build the model without it")
    return out


def accepted_arguments(cls: type) -> set[str] | None:
    """The keyword arguments cls's constructor takes, following **kwargs up to Layer's
    (None when a constructor takes *args, so the names cannot be known)."""
    names: set[str] = set()
    for klass in cls.__mro__:
        init = klass.__dict__.get("__init__")
        if init is None:
            continue
        params = inspect.signature(init).parameters.values()
        if any(p.kind is p.VAR_POSITIONAL for p in params):
            return None
        names.update(p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD,
                                                          p.KEYWORD_ONLY))
        if klass is Layer or not any(p.kind is p.VAR_KEYWORD for p in params):
            break
    names.discard("self")
    return names


def dtype_name(dtype: Any, who: str) -> Any:
    """A dtype from Keras's config: a name, or a DTypePolicy dict (its name); mixed
    precision policies are refused (adkit.nn computes a layer in one dtype).

    >>> dtype_name({"module": "keras", "class_name": "DTypePolicy",
    ...             "config": {"name": "float32"}, "registered_name": None}, "layer")
    'float32'
    """
    if not isinstance(dtype, dict):
        return dtype
    name = (dtype.get("config") or {}).get("name")
    if dtype.get("class_name") not in ("DTypePolicy", "FloatDTypePolicy") \
            or not isinstance(name, str):
        raise ValueError(f"{who}: dtype policy {str(dtype)[:120]} is not supported; adkit.nn "
                         "takes Keras's DTypePolicy with a plain dtype name")
    if name.startswith("mixed_"):
        raise ValueError(f"{who}: the mixed precision policy {name!r} is not supported; "
                         "adkit.nn computes each layer in one dtype (use 'float32')")
    return name


def _plain(value: Any, who: str) -> Any:
    """A config value with any layer config inside it (a wrapper's "layer") read as
    Keras's; initializer, regularizer and constraint dicts stay (adkit reads them)."""
    if isinstance(value, dict) and isinstance(value.get("config"), dict) \
            and value.get("class_name") in Layer.REGISTRY \
            and value.get("class_name") not in ("function",):
        cls = Layer.REGISTRY[value["class_name"]]
        return {"class_name": value["class_name"],
                "config": layer_kwargs(cls, value["config"])}
    return value


def _sequential(config: dict) -> Any:
    from .model import Sequential
    specs = config["layers"]
    if not specs:
        raise ValueError("the Keras Sequential config has no layers")
    model = Sequential(name=config.get("name"))
    for spec in specs:
        model.add(layer_from_keras(spec))
    shape = config.get("build_input_shape")
    if model.params is None and isinstance(shape, list) and len(model.layers):
        model.build(tuple(shape))
    return model


def _functional(config: dict) -> Any:
    from .functional import Model
    objects: dict[str, Any] = {}
    pending: list[tuple[str, int, Any]] = []
    tensors: dict[tuple, KerasTensor] = {}
    for spec in config["layers"]:
        layer = layer_from_keras(spec)
        name = spec.get("name") or spec["config"].get("name")
        if not isinstance(name, str) or name in objects:
            raise ValueError(f"the Keras functional config names a layer {name!r} twice "
                             "or not at all")
        objects[name] = layer
        if isinstance(layer, InputLayer):
            tensors[(name, 0, 0)] = input_tensor(layer)
            continue
        nodes = spec.get("inbound_nodes") or []
        if not isinstance(nodes, list):
            raise ValueError(f"layer {name!r} in the Keras config has inbound_nodes that "
                             "are not a list")
        pending.extend((name, k, node) for k, node in enumerate(nodes))
    while pending:   # each call once the tensors it takes exist (Keras's own order)
        ready = [item for item in pending if _can_run(item, tensors, pending)]
        if not ready:
            raise ValueError("the Keras functional config's calls refer to tensors no "
                             f"call makes: {[(n, k) for n, k, _ in pending][:5]}")
        for item in ready:
            pending.remove(item)
            name, k, node = item
            args = _resolved(node.get("args", []), tensors)
            kwargs = _resolved(node.get("kwargs", {}), tensors)
            out = objects[name](*args, **kwargs)
            for i, t in enumerate(out if isinstance(out, (list, tuple)) else [out]):
                tensors[(name, k, i)] = t
    inputs = _endpoints(config["input_layers"], tensors, "input")
    outputs = _endpoints(config["output_layers"], tensors, "output")
    model = Model.__new__(Model)
    model._setup(inputs, outputs, config.get("name"), None)
    # Keras's layer order (the config's) is its get_weights order
    order = {name: i for i, name in enumerate(objects)}
    model.layers.sort(key=lambda layer: order.get(layer.name, len(order)))
    model.build()
    return model


def _history(value: Any) -> tuple | None:
    """(layer, call, output) of Keras's serialized tensor, else None."""
    if isinstance(value, dict) and value.get("class_name") == "__keras_tensor__":
        history = (value.get("config") or {}).get("keras_history")
        if not (isinstance(history, (list, tuple)) and len(history) == 3):
            raise ValueError(f"a tensor in the Keras config has no keras_history: {value}")
        return tuple(history)
    return None


def _references(value: Any) -> list[tuple]:
    found = _history(value)
    if found is not None:
        return [found]
    items = value.values() if isinstance(value, dict) else \
        value if isinstance(value, (list, tuple)) else ()
    return [ref for item in items for ref in _references(item)]


def _can_run(item: tuple, tensors: dict, pending: list) -> bool:
    name, k, node = item
    earlier_call_waits = any(n == name and j < k for n, j, _ in pending)
    return not earlier_call_waits and all(ref in tensors for ref in _references(node))


def _resolved(value: Any, tensors: dict) -> Any:
    """value with each serialized tensor replaced by the KerasTensor it names."""
    found = _history(value)
    if found is not None:
        return tensors[found]
    if isinstance(value, dict):
        return {k: _resolved(v, tensors) for k, v in value.items()}
    if isinstance(value, (list, tuple)):   # get_config() gives tuples, JSON lists
        return [_resolved(v, tensors) for v in value]
    return value


def _endpoints(spec: Any, tensors: dict, what: str) -> Any:
    """A functional model's inputs or outputs from Keras's [layer, call, output]
    references: one, a list of them, or a dict of them by key."""
    def one(ref: Any) -> KerasTensor:
        key = tuple(ref) if isinstance(ref, (list, tuple)) and len(ref) == 3 else None
        if key not in tensors:
            raise ValueError(f"the Keras functional config's {what} {ref!r} is not a tensor "
                             "of the model")
        return tensors[key]
    if isinstance(spec, dict):
        return {key: one(ref) for key, ref in spec.items()}
    spec = list(spec) if isinstance(spec, tuple) else spec
    if isinstance(spec, list) and len(spec) == 3 and isinstance(spec[0], str):
        return one(spec)
    if isinstance(spec, list) and spec:
        return [one(ref) for ref in spec]
    raise ValueError(f"the Keras functional config has no {what}s")
