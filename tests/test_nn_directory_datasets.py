"""image_dataset_from_directory, text_dataset_from_directory, the image file helpers
(load_img, img_to_array, array_to_img, save_img) and plot_model.

Images are small PNG files written here with Pillow; pixels are checked against
the arrays written, resizes against NumPy index arithmetic and (with Keras 3)
against keras.ops.image.resize on JAX, the file order and labels against Keras's
own index_directory, and the image helpers against Keras's (all pure Python/PIL)."""

import os
import sys

import numpy as np
import pytest

import adkit.nn as keras
from adkit.nn.directory_datasets import index_directory
from adkit.nn.image_utils import resize_image
from keras_referee import real_keras  # noqa: F401  (Keras 3 fixture; skips without it)



def pil():
    """PIL.Image, or a skip: these tests write image files with Pillow."""
    return pytest.importorskip("PIL.Image", reason="Pillow is not installed: pip install pillow")


@pytest.fixture
def image_dir(tmp_path):
    """3 classes of random RGB PNGs of varying sizes (one in a nested folder), plus a
    file that is not an image; returns (root, {relative path: pixels})."""
    rng = np.random.default_rng(0)
    pixels = {}
    for c, name in enumerate(["ants", "bees", "cats"]):
        (tmp_path / name / "more").mkdir(parents=True)
        for i in range(4 + c):
            rel = f"{name}/{i}.png" if i else f"{name}/more/{i}.png"
            a = rng.integers(0, 256, size=(rng.integers(6, 14), rng.integers(6, 14), 3),
                             dtype=np.uint8)
            pil().fromarray(a).save(tmp_path / rel)
            pixels[rel] = a
    (tmp_path / "ants" / "readme.txt").write_text("not an image")
    return tmp_path, pixels


def relative(root, path):
    return os.path.relpath(path, root).replace(os.sep, "/")


def test_original_size_images_are_the_files_pixels(image_dir):
    root, pixels = image_dir
    ds = keras.utils.image_dataset_from_directory(root, image_size=(8, 8), batch_size=4,
                                                  shuffle=False, verbose=False)
    assert ds.class_names == ["ants", "bees", "cats"]
    assert len(ds.file_paths) == 15 and len(ds) == 4
    images, labels = next(iter(ds.unbatch().batch(15)))
    assert images.shape == (15, 8, 8, 3) and images.dtype == np.float32
    assert labels.dtype == np.int32
    for image, label, path in zip(images, labels, ds.file_paths):
        rel = relative(root, path)
        assert ds.class_names[label] == rel.split("/")[0]
        np.testing.assert_allclose(image, resize_image(pixels[rel], (8, 8)), atol=1e-4)
    same = keras.utils.image_dataset_from_directory(
        root, class_names=["cats"], image_size=(1, 1), shuffle=False, verbose=False)
    assert same.class_names == ["cats"] and len(same.file_paths) == 6


def test_keras_tutorial_loop_with_numpy_calls(image_dir):
    root, _ = image_dir
    ds = keras.utils.image_dataset_from_directory(root, image_size=(6, 6), batch_size=9, seed=1,
                                                  verbose=False)
    for images, labels in ds.take(1):
        first = images[0].numpy().astype("uint8")
        assert type(first) is np.ndarray and first.shape == (6, 6, 3)
        assert ds.class_names[labels[0]] in ds.class_names
        assert labels.numpy().shape == (9,) and int(labels[0].numpy()) == int(labels[0])


def test_unresized_pixels_and_nearest_downscale(tmp_path):
    a = np.random.default_rng(1).integers(0, 256, size=(8, 12, 3), dtype=np.uint8)
    (tmp_path / "only").mkdir()
    pil().fromarray(a).save(tmp_path / "only" / "x.png")
    (x, _), = keras.utils.image_dataset_from_directory(tmp_path, image_size=(8, 12),
                                                       verbose=False)
    np.testing.assert_array_equal(x[0], a.astype(np.float32))
    (x, _), = keras.utils.image_dataset_from_directory(tmp_path, image_size=(4, 6),
                                                       interpolation="nearest", verbose=False)
    # half-pixel centres: output o samples input floor((o + 0.5) * 2) = 2 o + 1
    np.testing.assert_array_equal(x[0], a[1::2, 1::2].astype(np.float32))
    (x, _), = keras.utils.image_dataset_from_directory(tmp_path, image_size=(4, 6),
                                                       verbose=False)
    # bilinear halving with half-pixel centres averages each 2x2 block
    blocks = a.astype(np.float32).reshape(4, 2, 6, 2, 3).mean(axis=(1, 3))
    np.testing.assert_allclose(x[0], blocks, atol=1e-4)


def test_crop_and_pad_to_aspect_ratio(tmp_path):
    a = np.random.default_rng(2).integers(0, 256, size=(6, 12, 3), dtype=np.uint8)
    (tmp_path / "k").mkdir()
    pil().fromarray(a).save(tmp_path / "k" / "x.png")
    (x, _), = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(6, 6), crop_to_aspect_ratio=True, verbose=False)
    np.testing.assert_array_equal(x[0], a[:, 3:9].astype(np.float32))   # the centred square
    (x, _), = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(12, 12), pad_to_aspect_ratio=True, verbose=False)
    assert np.all(x[0, :3] == 0) and np.all(x[0, 9:] == 0)
    np.testing.assert_array_equal(x[0, 3:9], a.astype(np.float32))
    (x, _), = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(6, 12), data_format="channels_first", verbose=False)
    np.testing.assert_array_equal(x[0], a.transpose(2, 0, 1).astype(np.float32))


def test_label_modes_color_modes_and_no_labels(image_dir):
    root, pixels = image_dir
    common = dict(image_size=(5, 5), shuffle=False, verbose=False, batch_size=None)
    ints = [int(y) for _, y in keras.utils.image_dataset_from_directory(root, **common)]
    cat = [y for _, y in keras.utils.image_dataset_from_directory(
        root, label_mode="categorical", **common)]
    np.testing.assert_array_equal(np.stack(cat), np.eye(3, dtype=np.float32)[ints])
    assert cat[0].dtype == np.float32
    gray = keras.utils.image_dataset_from_directory(root, color_mode="grayscale", **common)
    image, _ = next(iter(gray))
    assert image.shape == (5, 5, 1)
    rgba = keras.utils.image_dataset_from_directory(root, color_mode="rgba", labels=None,
                                                    **common)
    assert rgba.class_names is None and next(iter(rgba)).shape == (5, 5, 4)
    assert np.all(next(iter(rgba))[..., 3] == 255)
    with pytest.raises(ValueError, match='label_mode="binary"`, there must be exactly 2'):
        keras.utils.image_dataset_from_directory(root, label_mode="binary", verbose=False)
    two = keras.utils.image_dataset_from_directory(root, label_mode="binary",
                                                   class_names=["ants", "cats"], **common)
    labels = np.stack([y for _, y in two])
    assert labels.shape == (10, 1) and labels.dtype == np.float32
    assert labels[:4].sum() == 0 and labels[4:].sum() == 6


def test_file_order_and_labels_equal_keras_index(image_dir, real_keras):  # noqa: F811
    from keras.src.utils import dataset_utils
    root, _ = image_dir
    formats = (".png", ".jpg")
    for seed in (0, 7):
        theirs = dataset_utils.index_directory(str(root), "inferred", formats, seed=seed,
                                               verbose=False)
        ours = index_directory(str(root), "inferred", formats, seed=seed, verbose=False)
        assert ours[0] == theirs[0] and ours[2] == theirs[2]
        np.testing.assert_array_equal(ours[1], theirs[1])
    labels = list(range(15))
    theirs = dataset_utils.index_directory(str(root), list(labels), formats, seed=3,
                                           verbose=False)
    ours = index_directory(str(root), labels, formats, seed=3, verbose=False)
    assert ours[0] == theirs[0] and list(ours[1]) == list(theirs[1]) and ours[2] == theirs[2]
    assert labels == list(range(15))   # the caller's list is not shuffled in place


def test_resize_equals_keras_jax_resize(real_keras):  # noqa: F811
    rng = np.random.default_rng(3)
    for shape, size in [((7, 9, 3), (4, 5)), ((5, 4, 1), (11, 13)), ((10, 10, 3), (3, 17))]:
        x = rng.uniform(0, 255, size=shape).astype(np.float32)
        for method in ("bilinear", "nearest"):
            theirs = np.asarray(real_keras.ops.image.resize(x, size, interpolation=method,
                                                            antialias=False))
            np.testing.assert_allclose(resize_image(x, size, method), theirs, atol=2e-3)


def test_validation_split_subsets_are_disjoint_and_cover_everything(image_dir):
    root, _ = image_dir
    args = dict(image_size=(4, 4), validation_split=0.2, seed=5, verbose=False)
    train = keras.utils.image_dataset_from_directory(root, subset="training", **args)
    val = keras.utils.image_dataset_from_directory(root, subset="validation", **args)
    both = keras.utils.image_dataset_from_directory(root, subset="both", **args)
    assert len(val.file_paths) == 3 and len(train.file_paths) == 12
    assert set(train.file_paths).isdisjoint(val.file_paths)
    assert both[0].file_paths == train.file_paths and both[1].file_paths == val.file_paths
    assert both[1].class_names == ["ants", "bees", "cats"]
    with pytest.raises(ValueError, match="you must provide a `seed`"):
        keras.utils.image_dataset_from_directory(root, validation_split=0.2,
                                                 subset="training", verbose=False)
    with pytest.raises(ValueError, match="`validation_split` must be set"):
        keras.utils.image_dataset_from_directory(root, subset="training", verbose=False)


def test_bad_arguments_and_missing_pillow(image_dir, tmp_path, monkeypatch):
    root, _ = image_dir
    with pytest.raises(ValueError, match="TensorFlow resize method adkit.nn does not"):
        keras.utils.image_dataset_from_directory(root, interpolation="bicubic")
    with pytest.raises(ValueError, match="should be one of"):
        keras.utils.image_dataset_from_directory(root, interpolation="cubic")
    with pytest.raises(ValueError, match="`color_mode` must be one of"):
        keras.utils.image_dataset_from_directory(root, color_mode="bgr")
    with pytest.raises(ValueError, match="Only one of `pad_to_aspect_ratio`"):
        keras.utils.image_dataset_from_directory(root, crop_to_aspect_ratio=True,
                                                 pad_to_aspect_ratio=True)
    (tmp_path / "empty" / "a").mkdir(parents=True)
    with pytest.raises(ValueError, match="No images found in directory"):
        keras.utils.image_dataset_from_directory(tmp_path / "empty", verbose=False)
    with pytest.raises(ValueError, match="does not exist"):
        keras.utils.image_dataset_from_directory(tmp_path / "nowhere")
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(ImportError, match="pip install pillow"):
        keras.utils.image_dataset_from_directory(root)
    with pytest.raises(ImportError, match="pip install pillow"):
        keras.utils.load_img(next(iter(root.glob("*/*.png"))))


def test_fit_on_image_dataset(tmp_path):
    rng = np.random.default_rng(4)
    for name, level in (("dark", 40), ("light", 210)):
        (tmp_path / name).mkdir()
        for i in range(12):
            a = np.clip(rng.normal(level, 20, size=(10, 10, 3)), 0, 255).astype(np.uint8)
            pil().fromarray(a).save(tmp_path / name / f"{i}.png")
    train, val = keras.utils.image_dataset_from_directory(
        tmp_path, image_size=(8, 8), batch_size=6, validation_split=0.25, subset="both",
        seed=1, verbose=False)
    model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Rescaling(1 / 255),
                              keras.layers.Conv2D(2, 3),
                              keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dense(2, activation="softmax")], seed=0)
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    history = model.fit(train, validation_data=val, epochs=15, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]
    assert history.history["val_accuracy"][-1] == 1.0
    assert model.predict(val, verbose=0).shape == (6, 2)


# ------------------------------------------------------------------------- text --

@pytest.fixture
def text_dir(tmp_path):
    texts = {"neg": ["bad awful film", "terrible plot", "boring and bad", "awful acting"],
             "pos": ["great fun film", "wonderful plot", "great acting é", "fun and good"]}
    for label, items in texts.items():
        (tmp_path / label).mkdir()
        for i, text in enumerate(items):
            (tmp_path / label / f"{i}.txt").write_text(text, encoding="utf-8")
    (tmp_path / "pos" / "skip.md").write_text("not listed")
    return tmp_path, texts


def test_text_dataset_reads_files(text_dir):
    root, texts = text_dir
    ds = keras.utils.text_dataset_from_directory(root, batch_size=3, shuffle=False,
                                                 verbose=False)
    assert ds.class_names == ["neg", "pos"] and len(ds) == 3
    got = [(str(t), int(y)) for x, y in ds for t, y in zip(x, y)]
    assert got == [(t, 0) for t in texts["neg"]] + [(t, 1) for t in texts["pos"]]
    short = keras.utils.text_dataset_from_directory(root, max_length=4, shuffle=False,
                                                    batch_size=None, label_mode=None,
                                                    verbose=False)
    assert [str(t) for t in short] == [t[:4] for t in texts["neg"] + texts["pos"]]
    shuffled = keras.utils.text_dataset_from_directory(root, seed=2, verbose=False)
    (x, y), = list(shuffled)
    assert sorted(zip(x.tolist(), y.tolist())) == sorted(got)


def test_fit_on_text_dataset(text_dir):
    root, _ = text_dir
    ds = keras.utils.text_dataset_from_directory(root, batch_size=4, seed=0, verbose=False)
    vectorize = keras.layers.TextVectorization(output_mode="multi_hot", max_tokens=30)
    vectorize.adapt(ds.map(lambda x, y: x))
    vectors = ds.map(lambda x, y: (vectorize(x), y))
    model = dense_classifier(vectorize.vocabulary_size())
    history = model.fit(vectors, epochs=30, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 2


def dense_classifier(width):
    model = keras.Sequential([keras.Input((width,)), keras.layers.Dense(1, activation="sigmoid")],
                             seed=0)
    model.compile(keras.optimizers.Adam(0.1), "binary_crossentropy")
    return model


# ---------------------------------------------------------------- image helpers --

def test_image_helpers_round_trip_and_equal_keras(tmp_path, real_keras):  # noqa: F811
    pil()
    from keras.src.utils import image_utils as theirs
    a = np.random.default_rng(5).integers(0, 256, size=(9, 14, 3)).astype(np.float32)
    path = tmp_path / "a.png"
    keras.utils.save_img(path, a, scale=False)
    loaded = keras.utils.img_to_array(keras.utils.load_img(path))
    np.testing.assert_array_equal(loaded, a)
    for kwargs in ({}, {"target_size": (5, 6)}, {"target_size": (5, 6), "keep_aspect_ratio": True},
                   {"color_mode": "grayscale", "target_size": (4, 4), "interpolation": "bilinear"},
                   {"color_mode": "rgba"}):
        ours = keras.utils.img_to_array(keras.utils.load_img(path, **kwargs))
        ref = theirs.img_to_array(theirs.load_img(path, **kwargs))
        np.testing.assert_array_equal(ours, ref)
    stretched = keras.utils.img_to_array(keras.utils.array_to_img(a / 7.0))
    np.testing.assert_array_equal(stretched, theirs.img_to_array(theirs.array_to_img(a / 7.0)))
    assert keras.utils.img_to_array(keras.utils.load_img(path), "channels_first").shape == \
        (3, 9, 14)
    with pytest.raises(ValueError, match="Invalid interpolation method"):
        keras.utils.load_img(path, target_size=(3, 3), interpolation="cubic")
    with pytest.raises(ValueError, match="rank 3"):
        keras.utils.array_to_img(np.zeros((2, 2)))


def test_keras_preprocessing_spellings_are_the_same_functions():
    assert keras.preprocessing.image.load_img is keras.utils.load_img
    assert keras.preprocessing.image.img_to_array is keras.utils.img_to_array
    assert keras.preprocessing.image_dataset_from_directory is \
        keras.utils.image_dataset_from_directory
    assert keras.preprocessing.text_dataset_from_directory is \
        keras.utils.text_dataset_from_directory
    assert keras.preprocessing.timeseries_dataset_from_array is \
        keras.utils.timeseries_dataset_from_array


# -------------------------------------------------------------------- plot_model --

def functional_model():
    a = keras.Input((4,), name="a")
    b = keras.Input((2,), name="b")
    h = keras.layers.Dense(3, activation="relu", name="h")(a)
    out = keras.layers.Concatenate(name="join")([h, b])
    return keras.Model([a, b], out)


def test_model_to_dot_draws_every_layer_and_connection():
    dot = keras.utils.model_to_dot(functional_model(), show_shapes=True,
                                   show_layer_activations=True)
    labels = {line.split(" ")[2]: line for line in dot.splitlines() if "[label=" in line}
    assert len(labels) == 4
    assert 'n2 [label="{Dense (h)|activation: relu|(None, 3)}"];' in dot
    assert 'n1 [label="{InputLayer (b)|(None, 2)}"];' in dot
    edges = sorted(line.strip() for line in dot.splitlines() if "->" in line)
    assert edges == ["n0 -> n2;", "n1 -> n3;", "n2 -> n3;"]
    seq = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2), keras.layers.Dense(1)])
    assert keras.utils.model_to_dot(seq).count("->") == 1


def test_plot_model_writes_dot_or_names_what_to_install(tmp_path, monkeypatch):
    model = functional_model()
    keras.utils.plot_model(model, to_file=tmp_path / "m.dot", show_shapes=True)
    text = (tmp_path / "m.dot").read_text()
    assert text.startswith("digraph model {") and "(None, 5)" in text
    monkeypatch.setattr("shutil.which", lambda name: None)
    with pytest.raises(ImportError, match="Graphviz.*apt install graphviz.*model.dot"):
        keras.utils.plot_model(model, to_file=tmp_path / "m.png")
    with pytest.raises(ValueError, match="rankdir"):
        keras.utils.plot_model(model, to_file=tmp_path / "m.dot", rankdir="BT")


def test_plot_model_png_with_graphviz(tmp_path):
    import shutil
    if shutil.which("dot") is None:
        pytest.skip("Graphviz's dot program is not installed (apt install graphviz)")
    keras.utils.plot_model(functional_model(), to_file=tmp_path / "m.png")
    assert (tmp_path / "m.png").read_bytes()[:4] == b"\x89PNG"


# ------------------------------------------------------------------------ audio --

def write_wav(path, samples, rate=8000):
    import wave
    samples = np.asarray(samples, np.int16)
    samples = samples[:, None] if samples.ndim == 1 else samples
    with wave.open(str(path), "wb") as f:
        f.setnchannels(samples.shape[1])
        f.setsampwidth(2)
        f.setframerate(rate)
        f.writeframes(samples.astype("<i2").tobytes())


@pytest.fixture
def audio_dir(tmp_path):
    rng = np.random.default_rng(6)
    clips = {}
    for name, freq in (("low", 0.05), ("high", 0.6)):
        (tmp_path / name).mkdir()
        for i in range(6):
            n = 40 + 5 * i
            clip = (12000 * np.sin(freq * np.arange(n)) + rng.normal(0, 200, n)).astype(np.int16)
            write_wav(tmp_path / name / f"{i}.wav", clip)
            clips[f"{name}/{i}.wav"] = clip
    return tmp_path, clips


def test_audio_samples_are_pcm_over_32768_padded_per_batch(audio_dir):
    scipy_wavfile = pytest.importorskip("scipy.io.wavfile", reason="SciPy reads the WAV files")
    root, clips = audio_dir
    ds = keras.utils.audio_dataset_from_directory(root, batch_size=4, shuffle=False,
                                                  verbose=False)
    assert ds.class_names == ["high", "low"]
    audio, labels = next(iter(ds))   # unshuffled: the first four files
    paths = ds.file_paths[:4]
    assert audio.dtype == np.float32 and audio.shape[2] == 1
    assert audio.shape[1] == max(len(clips[relative(root, p)]) for p in paths)
    for row, path in zip(audio, paths):
        _, pcm = scipy_wavfile.read(path)
        np.testing.assert_array_equal(row[:len(pcm), 0], pcm.astype(np.float32) / 32768)
        assert np.all(row[len(pcm):] == 0)
    fixed = keras.utils.audio_dataset_from_directory(root, output_sequence_length=50,
                                                     batch_size=None, shuffle=False,
                                                     verbose=False)
    for (clip, _), path in zip(fixed, fixed.file_paths):
        pcm = clips[relative(root, path)]
        assert clip.shape == (50, 1)
        np.testing.assert_array_equal(clip[:min(50, len(pcm)), 0],
                                      pcm[:50].astype(np.float32) / 32768)


def test_audio_refusals(audio_dir, tmp_path):
    root, _ = audio_dir
    with pytest.raises(ValueError, match="sampling_rate is not supported.*tensorflow-io"):
        keras.utils.audio_dataset_from_directory(root, sampling_rate=16000)
    with pytest.raises(ValueError, match="ragged=True is not supported"):
        keras.utils.audio_dataset_from_directory(root, ragged=True)
    (tmp_path / "eight" / "a").mkdir(parents=True)
    import wave
    with wave.open(str(tmp_path / "eight" / "a" / "x.wav"), "wb") as f:
        f.setnchannels(1), f.setsampwidth(1), f.setframerate(8000)
        f.writeframes(bytes(10))
    ds = keras.utils.audio_dataset_from_directory(tmp_path / "eight", verbose=False)
    with pytest.raises(ValueError, match="8-bit samples.*16-bit PCM"):
        list(ds)


def test_fit_on_audio_dataset(audio_dir):
    root, _ = audio_dir
    train = keras.utils.audio_dataset_from_directory(root, batch_size=4, seed=0,
                                                     output_sequence_length=40, verbose=False)
    model = keras.Sequential([keras.Input((40, 1)), keras.layers.Conv1D(4, 3),
                              keras.layers.GlobalMaxPooling1D(),
                              keras.layers.Dense(2, activation="softmax")], seed=0)
    model.compile(keras.optimizers.Adam(0.05), "sparse_categorical_crossentropy")
    history = model.fit(train, epochs=20, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0] / 2
