"""Code written for Keras 3 / tf.keras, run through adkit.nn with only its imports changed.

Each SCRIPT is written the way keras.io's guides and examples and TensorFlow's Keras
tutorials write it (the comment names the page whose pattern it follows; names and data
are ours, cut down to tiny synthetic or Fashion-MNIST data and one to three epochs).
`port_keras` makes the change a user makes (`import keras` or `from tensorflow import
keras` -> `import adkit.nn as keras`, `from keras import layers` -> `from adkit.nn import
layers`). The tests check what the scripts compute against NumPy formulas on the model's
own weights, and the structure Keras gives (history keys, weights, shapes, hooks) against
the answers of Keras 3 itself where it is installed (`test_same_structure_as_keras`).
"""

import csv
import importlib.util
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from data_support import needs_data
from keras_referee import KERAS_INSTALL
from real_code import as_written_for_keras, port_keras, run_script

FASHION_LOADER = """
import gzip
import numpy as np
def load_fashion(n_train, n_test, root="/usr/share/datasets/fashion-mnist/"):
    def read(name, n, offset, shape):
        with gzip.open(root + name) as f:
            return np.frombuffer(f.read(offset + n * int(np.prod(shape))), np.uint8,
                                 offset=offset).reshape((n,) + shape).copy()
    return ((read("train-images-idx3-ubyte.gz", n_train, 16, (28, 28)),
             read("train-labels-idx1-ubyte.gz", n_train, 8, ())),
            (read("t10k-images-idx3-ubyte.gz", n_test, 16, (28, 28)),
             read("t10k-labels-idx1-ubyte.gz", n_test, 8, ())))
"""

# pattern: keras.io guides/sequential_model.py
SEQUENTIAL_GUIDE = """
import numpy as np
import keras
from keras import layers, ops
stack = keras.Sequential([layers.Dense(2, activation="relu", name="first"),
                          layers.Dense(3, activation="relu", name="second"),
                          layers.Dense(4, name="third")])
out_stack = stack(ops.ones((3, 3)))
a, b, c = layers.Dense(2, activation="relu"), layers.Dense(3, activation="relu"), layers.Dense(4)
chained = c(b(a(ops.ones((3, 3)))))
grown = keras.Sequential()
grown.add(layers.Dense(2, activation="relu"))
grown.add(layers.Dense(3, activation="relu"))
grown.add(layers.Dense(4))
grown.pop()
n_after_pop = len(grown.layers)
lone = layers.Dense(3)
weights_before = list(lone.weights)
lone_out = lone(ops.ones((1, 4)))
weights_after = [tuple(w.shape) for w in lone.weights]
lazy = keras.Sequential([layers.Dense(2, activation="relu"), layers.Dense(3), layers.Dense(4)])
lazy(ops.ones((1, 4)))
n_lazy_weights = len(lazy.weights)
declared = keras.Sequential()
declared.add(keras.Input(shape=(4,)))
declared.add(layers.Dense(2, activation="relu"))
n_declared_layers = len(declared.layers)
convs = keras.Sequential([keras.Input(shape=(40, 40, 3)),
                          layers.Conv2D(8, 5, strides=2, activation="relu"),
                          layers.Conv2D(8, 3, activation="relu", name="middle"),
                          layers.Conv2D(8, 3, activation="relu")])
all_features = keras.Model(inputs=convs.inputs, outputs=[l.output for l in convs.layers])
feature_shapes = [tuple(f.shape) for f in all_features(ops.ones((1, 40, 40, 3)))]
middle = keras.Model(inputs=convs.inputs, outputs=convs.get_layer(name="middle").output)
middle_shape = tuple(middle(ops.ones((1, 40, 40, 3))).shape)
frozen = keras.Sequential([keras.Input(shape=(16,)), layers.Dense(8, activation="relu"),
                           layers.Dense(8, activation="relu"), layers.Dense(3)])
for layer in frozen.layers[:-1]:
    layer.trainable = False
frozen.compile(optimizer="adam", loss="mse")
n_trainable, n_frozen = len(frozen.trainable_weights), len(frozen.non_trainable_weights)
"""

# pattern: keras.io guides/writing_your_own_callbacks.py
CALLBACKS_GUIDE = FASHION_LOADER + """
import keras
keras.utils.set_random_seed(0)
def regression_model():
    model = keras.Sequential()
    model.add(keras.layers.Dense(1))
    model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=0.1),
                  loss="mean_squared_error", metrics=["mean_absolute_error"])
    return model
(x_train, y_train), (x_test, y_test) = load_fashion(256, 128)
x_train = x_train.reshape(-1, 784).astype("float32") / 255.0
x_test = x_test.reshape(-1, 784).astype("float32") / 255.0
y_train, y_test = y_train.astype("float32"), y_test.astype("float32")
hooks = []
class Recorder(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        hooks.append(("train_begin", sorted(logs.keys())))
    def on_train_end(self, logs=None):
        hooks.append(("train_end", sorted(logs.keys())))
    def on_epoch_begin(self, epoch, logs=None):
        hooks.append(("epoch_begin", sorted(logs.keys())))
    def on_epoch_end(self, epoch, logs=None):
        hooks.append(("epoch_end", sorted(logs.keys())))
    def on_train_batch_begin(self, batch, logs=None):
        hooks.append(("train_batch_begin", sorted(logs.keys())))
    def on_train_batch_end(self, batch, logs=None):
        hooks.append(("train_batch_end", sorted(logs.keys())))
    def on_test_begin(self, logs=None):
        hooks.append(("test_begin", sorted(logs.keys())))
    def on_test_end(self, logs=None):
        hooks.append(("test_end", sorted(logs.keys())))
    def on_predict_begin(self, logs=None):
        hooks.append(("predict_begin", sorted(logs.keys())))
    def on_predict_end(self, logs=None):
        hooks.append(("predict_end", sorted(logs.keys())))
model = regression_model()
model.fit(x_train, y_train, batch_size=128, epochs=1, verbose=0, validation_split=0.5,
          callbacks=[Recorder()])
model.evaluate(x_test, y_test, batch_size=128, verbose=0, callbacks=[Recorder()])
model.predict(x_test, batch_size=128, verbose=0, callbacks=[Recorder()])
fit_hooks = [h for h in hooks[:[h[0] for h in hooks].index("train_end") + 1]
             if not h[0].startswith("test")]

class StopAtMinLoss(keras.callbacks.Callback):
    def __init__(self, patience=0):
        super().__init__()
        self.patience = patience
        self.best_weights = None
    def on_train_begin(self, logs=None):
        self.wait, self.stopped_epoch, self.best = 0, 0, np.inf
    def on_epoch_end(self, epoch, logs=None):
        if np.less(logs.get("loss"), self.best):
            self.best, self.wait = logs.get("loss"), 0
            self.best_weights = self.model.get_weights()
        else:
            self.wait += 1
            if self.wait >= self.patience:
                self.stopped_epoch = epoch
                self.model.stop_training = True
                self.model.set_weights(self.best_weights)
stopper = StopAtMinLoss()
model = regression_model()
stopped = model.fit(x_train, y_train, batch_size=64, epochs=30, verbose=0, callbacks=[stopper])
stopped_weights = model.get_weights()

class EpochSchedule(keras.callbacks.Callback):
    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
    def on_epoch_begin(self, epoch, logs=None):
        if not hasattr(self.model.optimizer, "learning_rate"):
            raise ValueError('Optimizer must have a "learning_rate" attribute.')
        rate = self.model.optimizer.learning_rate
        self.model.optimizer.learning_rate = self.schedule(epoch, rate)
table = {1: 0.05, 2: 0.01, 3: 0.005}
model = regression_model()
scheduled = model.fit(x_train, y_train, batch_size=64, epochs=4, verbose=0,
                      callbacks=[EpochSchedule(lambda e, lr: table.get(e, lr))])
final_rate = float(np.array(model.optimizer.learning_rate))
"""

# pattern: keras.io examples/timeseries/timeseries_classification_from_scratch.py
TIMESERIES_CNN = """
import numpy as np
import keras
np.random.seed(0); keras.utils.set_random_seed(0)
t = np.linspace(0, 6, 48)
labels = np.random.randint(0, 2, 120)
series = (np.sin(t[None] * (1 + labels[:, None])) + 0.3 * np.random.randn(120, 48)).astype("float32")
x_train, y_train = series[:96].reshape(96, 48, 1), labels[:96]
x_test, y_test = series[96:].reshape(24, 48, 1), labels[96:]
n_classes = len(np.unique(y_train))
def conv_net(input_shape):
    inp = keras.layers.Input(input_shape)
    h = inp
    for _ in range(2):
        h = keras.layers.Conv1D(filters=8, kernel_size=3, padding="same")(h)
        h = keras.layers.BatchNormalization()(h)
        h = keras.layers.ReLU()(h)
    h = keras.layers.GlobalAveragePooling1D()(h)
    out = keras.layers.Dense(n_classes, activation="softmax")(h)
    return keras.models.Model(inputs=inp, outputs=out)
model = conv_net(x_train.shape[1:])
callbacks = [keras.callbacks.ModelCheckpoint("best_model.keras", save_best_only=True, monitor="val_loss"),
             keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.5, patience=20, min_lr=0.0001),
             keras.callbacks.EarlyStopping(monitor="val_loss", patience=50, verbose=0)]
model.compile(optimizer="adam", loss="sparse_categorical_crossentropy",
              metrics=["sparse_categorical_accuracy"])
history = model.fit(x_train, y_train, batch_size=32, epochs=3, callbacks=callbacks,
                    validation_split=0.2, verbose=0)
best = keras.models.load_model("best_model.keras")
test_loss, test_acc = best.evaluate(x_test, y_test, verbose=0)
layer_kinds = [type(l).__name__ for l in best.layers]
n_params = best.count_params()
"""

# pattern: TensorFlow's tutorials/keras/regression (tf.keras, Normalization.adapt)
REGRESSION_TUTORIAL = """
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers
np.random.seed(0); keras.utils.set_random_seed(0)
scale = np.array([100.0, 10.0, 3000.0])
train_x = np.random.rand(120, 3) * scale
train_y = 40 - 0.2 * train_x[:, 0] + 0.5 * train_x[:, 1] - 0.002 * train_x[:, 2]
test_x = np.random.rand(30, 3) * scale
test_y = 40 - 0.2 * test_x[:, 0] + 0.5 * test_x[:, 1] - 0.002 * test_x[:, 2]
normalizer = layers.Normalization(axis=-1)
normalizer.adapt(np.array(train_x))
adapted_mean = np.asarray(normalizer.mean)
normalized_first = np.asarray(normalizer(np.array(train_x[:1])))
hp = np.array(train_x[:, 0])
hp_normalizer = layers.Normalization(input_shape=[1,], axis=None)
hp_normalizer.adapt(hp)
hp_model = keras.Sequential([hp_normalizer, layers.Dense(units=1)])
untrained = hp_model.predict(hp[:10], verbose=0)
hp_model.compile(optimizer=keras.optimizers.Adam(learning_rate=0.1), loss="mean_absolute_error")
history = hp_model.fit(train_x[:, 0], train_y, epochs=20, verbose=0, validation_split=0.2)
record = dict(history.history)
record["epoch"] = history.epoch
hp_test_mae = hp_model.evaluate(test_x[:, 0], test_y, verbose=0)
line = hp_model.predict(np.linspace(0.0, 100, 101), verbose=0)
def dnn(norm):
    model = keras.Sequential([norm, layers.Dense(16, activation="relu"),
                              layers.Dense(16, activation="relu"), layers.Dense(1)])
    model.compile(loss="mean_absolute_error", optimizer=keras.optimizers.Adam(0.001))
    return model
dnn_model = dnn(normalizer)
dnn_model.fit(train_x, train_y, validation_split=0.2, verbose=0, epochs=5)
dnn_pred = dnn_model.predict(test_x, verbose=0).flatten()
dnn_model.save("dnn_model.keras")
reloaded = keras.models.load_model("dnn_model.keras")
reloaded_pred = reloaded.predict(test_x, verbose=0).flatten()
"""

# pattern: keras.io guides/training_with_built_in_methods.py
TRAINING_GUIDE = FASHION_LOADER + """
import keras
from keras import layers, ops
keras.utils.set_random_seed(0)
def digits_model():
    inputs = keras.Input(shape=(784,), name="digits")
    h = layers.Dense(32, activation="relu", name="dense_1")(inputs)
    h = layers.Dense(32, activation="relu", name="dense_2")(h)
    outputs = layers.Dense(10, activation="softmax", name="predictions")(h)
    return keras.Model(inputs=inputs, outputs=outputs)
(x_train, y_train), (x_test, y_test) = load_fashion(400, 100)
x_train = x_train.reshape(-1, 784).astype("float32") / 255
x_test = x_test.reshape(-1, 784).astype("float32") / 255
y_train, y_test = y_train.astype("float32"), y_test.astype("float32")
x_val, y_val, x_train, y_train = x_train[-100:], y_train[-100:], x_train[:-100], y_train[:-100]
model = digits_model()
model.compile(optimizer=keras.optimizers.RMSprop(), loss=keras.losses.SparseCategoricalCrossentropy(),
              metrics=[keras.metrics.SparseCategoricalAccuracy()])
base_history = model.fit(x_train, y_train, batch_size=64, epochs=2, validation_data=(x_val, y_val), verbose=0)
base_results = model.evaluate(x_test, y_test, batch_size=128, verbose=0)
def mse_per_sample(y_true, y_pred):
    return ops.mean(ops.square(y_true - y_pred), axis=-1)
model = digits_model()
model.compile(optimizer=keras.optimizers.Adam(), loss=mse_per_sample)
one_hot = ops.one_hot(y_train, num_classes=10)
fn_history = model.fit(x_train, one_hot, batch_size=64, epochs=1, verbose=0)
class PenalizedMSE(keras.losses.Loss):
    def __init__(self, factor=0.1, name="penalized_mse"):
        super().__init__(name=name)
        self.factor = factor
    def call(self, y_true, y_pred):
        mse = ops.mean(ops.square(y_true - y_pred), axis=-1)
        return mse + self.factor * ops.mean(ops.square(0.5 - y_pred), axis=-1)
penalized = PenalizedMSE()
probe_true, probe_pred = np.eye(3, dtype="float32"), np.full((3, 3), 0.25, "float32")
penalized_value = float(np.asarray(penalized(probe_true, probe_pred)))
model = digits_model()
model.compile(optimizer=keras.optimizers.Adam(), loss=PenalizedMSE())
model.fit(x_train, one_hot, batch_size=64, epochs=1, verbose=0)
class TruePositiveCount(keras.metrics.Metric):
    def __init__(self, name="true_positive_count", **kwargs):
        super().__init__(name=name, **kwargs)
        self.count = self.add_variable(shape=(), name="count", initializer="zeros")
    def update_state(self, y_true, y_pred, sample_weight=None):
        y_pred = ops.reshape(ops.argmax(y_pred, axis=1), (-1, 1))
        hits = ops.cast(ops.cast(y_true, "int32") == ops.cast(y_pred, "int32"), "float32")
        if sample_weight is not None:
            hits = ops.multiply(hits, ops.cast(sample_weight, "float32"))
        self.count.assign_add(ops.sum(hits))
    def result(self):
        return self.count.value
    def reset_state(self):
        self.count.assign(0.0)
model = digits_model()
model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(), metrics=[TruePositiveCount()])
metric_history = model.fit(x_train, y_train, batch_size=64, epochs=2, verbose=0)
class ActivityPenalty(layers.Layer):
    def call(self, inputs):
        self.add_loss(ops.sum(inputs) * 0.1)
        return inputs
inputs = keras.Input(shape=(784,), name="digits")
h = layers.Dense(32, activation="relu")(inputs)
h = ActivityPenalty()(h)
outputs = layers.Dense(10, name="predictions")(h)
model = keras.Model(inputs=inputs, outputs=outputs)
model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=1e-3),
              loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
penalty_history = model.fit(x_train, y_train, batch_size=64, epochs=1, verbose=0)
model = digits_model()
model.compile(optimizer="rmsprop", loss="sparse_categorical_crossentropy",
              metrics=["sparse_categorical_accuracy"])
split_history = model.fit(x_train, y_train, batch_size=64, validation_split=0.2, epochs=1, verbose=0)
model.fit(x_train, y_train, class_weight={k: 2.0 if k == 5 else 1.0 for k in range(10)},
          batch_size=64, epochs=1, verbose=0)
per_sample = np.ones(shape=(len(y_train),))
per_sample[y_train == 5] = 2.0
model.fit(x_train, y_train, sample_weight=per_sample, batch_size=64, epochs=1, verbose=0)
image_in = keras.Input(shape=(16, 16, 3), name="img_input")
series_in = keras.Input(shape=(None, 10), name="ts_input")
f1 = layers.GlobalMaxPooling2D()(layers.Conv2D(3, 3)(image_in))
f2 = layers.GlobalMaxPooling1D()(layers.Conv1D(3, 3)(series_in))
joined = layers.concatenate([f1, f2])
score = layers.Dense(1, name="score_output")(joined)
klass = layers.Dense(5, name="class_output")(joined)
model = keras.Model(inputs=[image_in, series_in], outputs=[score, klass])
model.compile(optimizer=keras.optimizers.RMSprop(1e-3),
              loss={"score_output": keras.losses.MeanSquaredError(),
                    "class_output": keras.losses.CategoricalCrossentropy()},
              metrics={"score_output": [keras.metrics.MeanAbsolutePercentageError(),
                                        keras.metrics.MeanAbsoluteError()],
                       "class_output": [keras.metrics.CategoricalAccuracy()]},
              loss_weights={"score_output": 2.0, "class_output": 1.0})
images = np.random.random_sample(size=(32, 16, 16, 3))
sequences = np.random.random_sample(size=(32, 12, 10))
scores = np.random.random_sample(size=(32, 1))
classes = np.random.random_sample(size=(32, 5))
list_history = model.fit([images, sequences], [scores, classes], batch_size=16, epochs=1, verbose=0)
dict_history = model.fit({"img_input": images, "ts_input": sequences},
                         {"score_output": scores, "class_output": classes},
                         batch_size=16, epochs=1, verbose=0)
schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=100000, decay_rate=0.96,
                                                       staircase=True)
model = digits_model()
model.compile(optimizer=keras.optimizers.RMSprop(learning_rate=schedule),
              loss="sparse_categorical_crossentropy", metrics=["sparse_categorical_accuracy"])
early = model.fit(x_train, y_train, epochs=2, batch_size=64, validation_split=0.2, verbose=0,
                  callbacks=[keras.callbacks.EarlyStopping(monitor="val_loss", min_delta=1e-2,
                                                           patience=2, verbose=0)])
"""

# pattern: keras.io guides/functional_api.py (multiple inputs and outputs, a toy ResNet,
# a shared Embedding)
FUNCTIONAL_GUIDE = """
import numpy as np
import keras
from keras import layers
keras.utils.set_random_seed(0)
n_tags, n_words, n_departments = 6, 50, 3
title_in = keras.Input(shape=(None,), name="title")
body_in = keras.Input(shape=(None,), name="body")
tags_in = keras.Input(shape=(n_tags,), name="tags")
title_vec = layers.LSTM(4)(layers.Embedding(n_words, 8)(title_in))
body_vec = layers.LSTM(3)(layers.Embedding(n_words, 8)(body_in))
joined = layers.concatenate([title_vec, body_vec, tags_in])
priority = layers.Dense(1, name="priority")(joined)
department = layers.Dense(n_departments, name="department")(joined)
tickets = keras.Model(inputs=[title_in, body_in, tags_in],
                      outputs={"priority": priority, "department": department})
tickets.compile(optimizer=keras.optimizers.RMSprop(1e-3),
                loss={"priority": keras.losses.BinaryCrossentropy(from_logits=True),
                      "department": keras.losses.CategoricalCrossentropy(from_logits=True)},
                loss_weights={"priority": 1.0, "department": 0.2})
titles = np.random.randint(n_words, size=(32, 6))
bodies = np.random.randint(n_words, size=(32, 9))
tags = np.random.randint(2, size=(32, n_tags)).astype("float32")
ticket_history = tickets.fit({"title": titles, "body": bodies, "tags": tags},
                             {"priority": np.random.random(size=(32, 1)),
                              "department": np.random.randint(2, size=(32, n_departments))},
                             epochs=1, batch_size=16, verbose=0)
ticket_out = tickets.predict({"title": titles[:3], "body": bodies[:3], "tags": tags[:3]}, verbose=0)
ticket_params = tickets.count_params()
inputs = keras.Input(shape=(24, 24, 3), name="img")
h = layers.Conv2D(8, 3, activation="relu")(inputs)
h = layers.Conv2D(8, 3, activation="relu")(h)
block_1 = layers.MaxPooling2D(3)(h)
h = layers.Conv2D(8, 3, activation="relu", padding="same")(block_1)
h = layers.Conv2D(8, 3, activation="relu", padding="same")(h)
block_2 = layers.add([h, block_1])
h = layers.Conv2D(8, 3, activation="relu")(block_2)
h = layers.GlobalAveragePooling2D()(h)
h = layers.Dropout(0.5)(layers.Dense(16, activation="relu")(h))
resnet = keras.Model(inputs, layers.Dense(10)(h), name="toy_resnet")
resnet.compile(optimizer=keras.optimizers.RMSprop(1e-3),
               loss=keras.losses.CategoricalCrossentropy(from_logits=True), metrics=["acc"])
resnet_history = resnet.fit(np.random.rand(24, 24, 24, 3).astype("float32"),
                            keras.utils.to_categorical(np.random.randint(0, 10, 24), 10),
                            batch_size=8, epochs=1, validation_split=0.25, verbose=0)
resnet_params = resnet.count_params()
shared = layers.Embedding(100, 4)
left = shared(keras.Input(shape=(None,), dtype="int32"))
right = shared(keras.Input(shape=(None,), dtype="int32"))
shared_shapes = [tuple(left.shape), tuple(right.shape)]
"""

# pattern: keras.io examples/vision/autoencoder.py (convolutional denoising autoencoder)
AUTOENCODER = FASHION_LOADER + """
import keras
from keras import layers
from keras.models import Model
keras.utils.set_random_seed(0)
def to_unit(images):
    return np.reshape(images.astype("float32") / 255.0, (len(images), 28, 28, 1))
def corrupt(images):
    return np.clip(images + 0.4 * np.random.normal(0.0, 1.0, size=images.shape), 0.0, 1.0)
(train, _), (test, _) = load_fashion(64, 16)
train, test = to_unit(train), to_unit(test)
inp = layers.Input(shape=(28, 28, 1))
h = layers.Conv2D(4, (3, 3), activation="relu", padding="same")(inp)
h = layers.MaxPooling2D((2, 2), padding="same")(h)
h = layers.Conv2D(4, (3, 3), activation="relu", padding="same")(h)
h = layers.MaxPooling2D((2, 2), padding="same")(h)
h = layers.Conv2DTranspose(4, (3, 3), strides=2, activation="relu", padding="same")(h)
h = layers.Conv2DTranspose(4, (3, 3), strides=2, activation="relu", padding="same")(h)
h = layers.Conv2D(1, (3, 3), activation="sigmoid", padding="same")(h)
autoencoder = Model(inp, h)
autoencoder.compile(optimizer="adam", loss="binary_crossentropy")
clean_history = autoencoder.fit(x=train, y=train, epochs=2, batch_size=16, shuffle=True,
                                validation_data=(test, test), verbose=0)
reconstructions = autoencoder.predict(test, verbose=0)
denoise_history = autoencoder.fit(x=corrupt(train), y=train, epochs=1, batch_size=16,
                                  shuffle=True, validation_data=(corrupt(test), test), verbose=0)
weight_shapes = [w.shape for w in autoencoder.get_weights()]
"""

# pattern: TensorFlow's tutorials/keras/classification (tf.keras, Fashion-MNIST)
CLASSIFICATION_TUTORIAL = FASHION_LOADER + """
from tensorflow import keras
keras.utils.set_random_seed(0)
(train_images, train_labels), (test_images, test_labels) = load_fashion(300, 100)
train_images, test_images = train_images / 255.0, test_images / 255.0
model = keras.Sequential([keras.layers.Flatten(input_shape=(28, 28)),
                          keras.layers.Dense(64, activation="relu"),
                          keras.layers.Dense(10)])
model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=["accuracy"])
model.fit(train_images, train_labels, epochs=3, verbose=0)
test_loss, test_acc = model.evaluate(test_images, test_labels, verbose=0)
logits = model.predict(test_images, verbose=0)
probability_model = keras.Sequential([model, keras.layers.Softmax()])
predictions = probability_model.predict(test_images, verbose=0)
single = probability_model.predict(np.expand_dims(test_images[1], 0), verbose=0)
"""

# pattern: keras.io guides/serialization_and_saving.py and
# making_new_layers_and_models_via_subclassing.py (get_config, custom_objects)
CUSTOM_LAYERS = """
import numpy as np
import keras
from keras import layers, ops
@keras.saving.register_keras_serializable(package="Ours")
class Scale(keras.layers.Layer):
    def __init__(self, factor, **kwargs):
        super().__init__(**kwargs)
        self.factor = factor
    def call(self, x):
        return x * self.factor
    def get_config(self):
        config = super().get_config()
        config.update({"factor": self.factor})
        return config
class Affine(keras.layers.Layer):
    def __init__(self, units=32, **kwargs):
        super().__init__(**kwargs)
        self.units = units
    def build(self, input_shape):
        self.w = self.add_weight(shape=(input_shape[-1], self.units), initializer="random_normal",
                                 trainable=True)
        self.b = self.add_weight(shape=(self.units,), initializer="random_normal", trainable=True)
    def call(self, inputs):
        return ops.matmul(inputs, self.w) + self.b
    def get_config(self):
        config = super().get_config()
        config.update({"units": self.units})
        return config
copy_units = Affine.from_config(Affine(64).get_config()).units
keras.utils.set_random_seed(0)
inputs = keras.Input((8,))
h = Affine(4, name="affine")(Scale(0.5, name="half")(inputs))
model = keras.Model(inputs, layers.Dense(2)(h))
model.compile(optimizer="adam", loss="mse")
xs, ys = np.random.rand(16, 8).astype("float32"), np.random.rand(16, 2).astype("float32")
model.fit(xs, ys, epochs=1, verbose=0)
model.save("custom_model.keras")
restored = keras.models.load_model("custom_model.keras", custom_objects={"Affine": Affine})
before, after = model.predict(xs, verbose=0), restored.predict(xs, verbose=0)
half_factor = model.get_layer("half").get_config()["factor"]
"""

# pattern: the docstring examples of keras.callbacks.LearningRateScheduler, CSVLogger,
# LambdaCallback (Keras 3)
CALLBACK_DOCS = """
import json
import numpy as np
import keras
keras.utils.set_random_seed(0)
def decay_after_two(epoch, lr):
    return lr if epoch < 2 else float(lr * np.exp(-0.1))
model = keras.models.Sequential([keras.layers.Dense(10)])
model.compile(keras.optimizers.SGD(), loss="mse")
start_rate = float(np.array(model.optimizer.learning_rate))
rates = model.fit(np.arange(100).reshape(5, 20) / 100.0, np.zeros((5, 10)), epochs=5, verbose=0,
                  callbacks=[keras.callbacks.LearningRateScheduler(decay_after_two)])
end_rate = float(np.array(model.optimizer.learning_rate))
xs, ys = np.random.rand(32, 20).astype("float32"), np.random.rand(32, 10).astype("float32")
model.fit(xs, ys, epochs=2, verbose=0, callbacks=[keras.callbacks.CSVLogger("training.log")])
log_stream = open("loss_log.json", mode="wt", buffering=1)
writer = keras.callbacks.LambdaCallback(
    on_epoch_end=lambda epoch, logs: log_stream.write(json.dumps({"epoch": epoch, "loss": logs["loss"]}) + "\\n"),
    on_train_end=lambda logs: log_stream.close())
model.fit(xs, ys, epochs=3, verbose=0,
          callbacks=[keras.callbacks.LambdaCallback(on_batch_begin=lambda batch, logs: None),
                     writer, keras.callbacks.TerminateOnNaN()])
"""

# pattern: keras.utils.PyDataset's docstring example, Sequence, train_on_batch loops
DATASETS_AND_BATCHES = """
import math
import numpy as np
import keras
keras.utils.set_random_seed(0)
class Doubled(keras.utils.PyDataset):
    def __init__(self, xs, ys, batch_size, **kwargs):
        super().__init__(**kwargs)
        self.xs, self.ys, self.batch_size = xs, ys, batch_size
    def __len__(self):
        return math.ceil(len(self.xs) / self.batch_size)
    def __getitem__(self, idx):
        lo = idx * self.batch_size
        hi = min(lo + self.batch_size, len(self.xs))
        return np.array([x * 2.0 for x in self.xs[lo:hi]]), np.array(self.ys[lo:hi])
xs = np.random.rand(40, 8, 8, 3).astype("float32")
ys = np.random.randint(0, 10, 40)
model = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Conv2D(4, 3), keras.layers.Flatten(),
                          keras.layers.Dense(10, activation="softmax")])
model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
feed = Doubled(xs, ys, batch_size=16)
feed_history = model.fit(feed, epochs=2, verbose=0, validation_data=Doubled(xs[:16], ys[:16], 8))
feed_eval = model.evaluate(feed, verbose=0)
feed_pred = model.predict(Doubled(xs, ys, 16), verbose=0)
class Thirds(keras.utils.Sequence):
    def __len__(self):
        return 3
    def __getitem__(self, i):
        return xs[i * 10:(i + 1) * 10], ys[i * 10:(i + 1) * 10]
sequence_epochs = len(model.fit(Thirds(), epochs=1, verbose=0).history["loss"])
losses = [model.train_on_batch(xs[:16], ys[:16]) for _ in range(3)]
test_logs = model.test_on_batch(xs[:16], ys[:16])
batch_pred = model.predict_on_batch(xs[:4])
"""

# pattern: TensorFlow's tutorials/keras/overfit_and_underfit (l2 kernel regularizers,
# Dropout, InverseTimeDecay, a named BinaryCrossentropy metric watched by EarlyStopping)
OVERFIT_TUTORIAL = """
import numpy as np
from tensorflow import keras
from tensorflow.keras import layers, regularizers
keras.utils.set_random_seed(0); np.random.seed(0)
FEATURES, N_TRAIN, BATCH = 12, 256, 64
features = np.random.randn(320, FEATURES).astype("float32")
labels = (features[:, :3].sum(axis=1) + 0.5 * np.random.randn(320) > 0).astype("float32")[:, None]
schedule = keras.optimizers.schedules.InverseTimeDecay(0.001, decay_steps=(N_TRAIN // BATCH) * 1000,
                                                       decay_rate=1, staircase=False)
def compile_and_fit(model, epochs=2):
    model.compile(optimizer=keras.optimizers.Adam(schedule),
                  loss=keras.losses.BinaryCrossentropy(from_logits=True),
                  metrics=[keras.metrics.BinaryCrossentropy(from_logits=True, name="binary_crossentropy"),
                           "accuracy"])
    return model.fit(features[:N_TRAIN], labels[:N_TRAIN], batch_size=BATCH, epochs=epochs,
                     validation_data=(features[N_TRAIN:], labels[N_TRAIN:]), verbose=0,
                     callbacks=[keras.callbacks.EarlyStopping(monitor="val_binary_crossentropy",
                                                              patience=200)])
histories = {}
histories["tiny"] = compile_and_fit(keras.Sequential([
    layers.Dense(8, activation="elu", input_shape=(FEATURES,)), layers.Dense(1)]))
l2_model = keras.Sequential([
    layers.Dense(16, activation="elu", kernel_regularizer=regularizers.l2(0.001), input_shape=(FEATURES,)),
    layers.Dense(16, activation="elu", kernel_regularizer=regularizers.l2(0.001)),
    layers.Dense(1)])
histories["l2"] = compile_and_fit(l2_model)
histories["dropout"] = compile_and_fit(keras.Sequential([
    layers.Dense(16, activation="elu", input_shape=(FEATURES,)), layers.Dropout(0.5),
    layers.Dense(16, activation="elu"), layers.Dropout(0.5), layers.Dense(1)]))
l2_kernels = [l2_model.layers[0].kernel, l2_model.layers[1].kernel]
"""


def run(script, tmp_path):
    return run_script(port_keras(script), workdir=tmp_path)


# --- each script through adkit.nn ---------------------------------------------------------------


def test_sequential_guide(tmp_path):
    ns = run(SEQUENTIAL_GUIDE, tmp_path)
    assert tuple(ns["out_stack"].shape) == (3, 4) and tuple(ns["chained"].shape) == (3, 4)
    assert ns["n_after_pop"] == 2 and ns["n_lazy_weights"] == 6 and ns["n_declared_layers"] == 1
    # a built-in layer called alone builds and keeps its weights, as in Keras
    lone = ns["lone"]
    assert ns["weights_before"] == [] and ns["weights_after"] == [(4, 3), (3,)]
    # float32 layer output against a float64 product: a sum of 4 terms that can nearly
    # cancel, so an absolute float32 rounding allowance as well
    np.testing.assert_allclose(ns["lone_out"], np.ones((1, 4)) @ lone.kernel + lone.bias,
                               rtol=1e-6, atol=1e-6)
    again = lone(np.full((2, 4), 2.0))
    np.testing.assert_allclose(again, np.full((2, 4), 2.0) @ lone.kernel + lone.bias, rtol=1e-6)
    assert ns["feature_shapes"] == [(1, 18, 18, 8), (1, 16, 16, 8), (1, 14, 14, 8)]
    assert ns["middle_shape"] == (1, 16, 16, 8)
    assert (ns["n_trainable"], ns["n_frozen"]) == (2, 4)


@needs_data
def test_callbacks_guide(tmp_path):
    ns = run(CALLBACKS_GUIDE, tmp_path)
    hooks = ns["fit_hooks"]
    assert hooks[0] == ("train_begin", []) and hooks[1] == ("epoch_begin", [])
    assert ("train_batch_begin", []) in hooks
    assert ("train_batch_end", ["loss", "mean_absolute_error"]) in hooks
    epoch_keys = ["loss", "mean_absolute_error", "val_loss", "val_mean_absolute_error"]
    assert ("epoch_end", epoch_keys) in hooks and hooks[-1] == ("train_end", epoch_keys)
    after_fit = ns["hooks"][len(ns["hooks"]) - ns["hooks"][::-1].index(hooks[-1]):]
    assert [h for h in after_fit if h[0] in ("test_end", "predict_end")] == \
        [("test_end", ["loss", "mean_absolute_error"]), ("predict_end", [])]
    # the early stop at the first worse epoch restored the best weights
    stopper, losses = ns["stopper"], ns["stopped"].history["loss"]
    assert stopper.stopped_epoch == len(losses) - 1 < 29
    assert losses[-1] >= min(losses[:-1])
    for a, b in zip(ns["stopped_weights"], stopper.best_weights):
        np.testing.assert_array_equal(a, b)
    assert ns["final_rate"] == pytest.approx(0.005)


def test_timeseries_classification_with_three_callbacks(tmp_path):
    ns = run(TIMESERIES_CNN, tmp_path)
    history = ns["history"].history
    assert sorted(history) == ["learning_rate", "loss", "sparse_categorical_accuracy",
                               "val_loss", "val_sparse_categorical_accuracy"]
    assert ns["layer_kinds"] == ["InputLayer", "Conv1D", "BatchNormalization", "ReLU", "Conv1D",
                                 "BatchNormalization", "ReLU", "GlobalAveragePooling1D", "Dense"]
    # 2 Conv1D (3*1*8+8, 3*8*8+8), 2 BatchNormalization (4*8 each, moving statistics
    # included as Keras counts them), Dense 8*2+2
    assert ns["n_params"] == 32 + 200 + 2 * 32 + 18
    best = ns["best"]
    assert best.evaluate(ns["x_test"], ns["y_test"], verbose=0)[0] == pytest.approx(ns["test_loss"])


def test_regression_tutorial_normalization(tmp_path):
    ns = run(REGRESSION_TUTORIAL, tmp_path)
    train_x = ns["train_x"]
    np.testing.assert_allclose(ns["adapted_mean"], train_x.mean(axis=0), rtol=1e-5)
    np.testing.assert_allclose(ns["normalized_first"],
                               (train_x[:1] - train_x.mean(0)) / train_x.std(0), rtol=1e-4)
    assert ns["untrained"].shape == (10, 1) and ns["line"].shape == (101, 1)
    assert sorted(ns["record"]) == ["epoch", "loss", "val_loss"]
    assert ns["record"]["epoch"] == list(range(20))
    assert ns["record"]["loss"][-1] < ns["record"]["loss"][0]
    np.testing.assert_allclose(ns["reloaded_pred"], ns["dnn_pred"], rtol=1e-5, atol=1e-5)


def test_predict_builds_a_sequential_model_from_its_data():
    import adkit.nn as keras
    model = keras.Sequential([keras.layers.Dense(1)])
    assert model.predict(np.ones((3, 2)), verbose=0).shape == (3, 1)


@needs_data
def test_training_guide(tmp_path):
    ns = run(TRAINING_GUIDE, tmp_path)
    assert sorted(ns["base_history"].history) == ["loss", "sparse_categorical_accuracy",
                                                  "val_loss", "val_sparse_categorical_accuracy"]
    assert len(ns["base_results"]) == 2
    t, p = ns["probe_true"], ns["probe_pred"]
    expected = np.mean(np.mean((t - p) ** 2, -1) + 0.1 * np.mean((0.5 - p) ** 2, -1))
    assert ns["penalized_value"] == pytest.approx(expected, rel=1e-6)
    assert len(ns["metric_history"].history["true_positive_count"]) == 2
    # the guide's metric compares (n,) labels with (n, 1) argmaxes: an (n, n) broadcast,
    # as in Keras (its guide prints counts far above the number of examples)
    metric = ns["TruePositiveCount"]()
    labels, scores = np.array([0.0, 2.0, 1.0]), np.eye(3)[[0, 1, 1]]
    metric.update_state(labels, scores)
    metric.update_state(labels, scores, sample_weight=np.array([1.0, 0.0, 2.0]))
    hits = labels[None, :] == np.argmax(scores, 1)[:, None]
    weighted = hits * np.array([1.0, 0.0, 2.0])
    assert float(np.asarray(metric.result())) == hits.sum() + weighted.sum()
    metric.reset_state()
    assert float(np.asarray(metric.result())) == 0.0
    assert sorted(ns["split_history"].history) == ["loss", "sparse_categorical_accuracy",
                                                   "val_loss", "val_sparse_categorical_accuracy"]
    keys = ["class_output_categorical_accuracy", "class_output_loss", "loss",
            "score_output_loss", "score_output_mean_absolute_error",
            "score_output_mean_absolute_percentage_error"]
    assert sorted(ns["list_history"].history) == keys == sorted(ns["dict_history"].history)
    assert len(ns["early"].history["loss"]) == 2


def test_functional_guide(tmp_path):
    ns = run(FUNCTIONAL_GUIDE, tmp_path)
    assert sorted(ns["ticket_history"].history) == ["department_loss", "loss", "priority_loss"]
    assert sorted(ns["ticket_out"]) == ["department", "priority"]
    # Embeddings 2*50*8, LSTM(4) 4*4*(8+4+1), LSTM(3) 4*3*(8+3+1), Dense(1) and Dense(3)
    # on 4+3+6 features
    assert ns["ticket_params"] == 800 + 208 + 144 + 14 + 42
    assert sorted(ns["resnet_history"].history) == ["acc", "loss", "val_acc", "val_loss"]
    assert ns["resnet_params"] == 224 + 4 * 584 + 144 + 170
    assert ns["shared_shapes"] == [(None, None, 4), (None, None, 4)]


@needs_data
def test_denoising_autoencoder(tmp_path):
    ns = run(AUTOENCODER, tmp_path)
    assert ns["reconstructions"].shape == (16, 28, 28, 1)
    assert 0 <= ns["reconstructions"].min() and ns["reconstructions"].max() <= 1
    losses = ns["clean_history"].history["loss"]
    assert sorted(ns["clean_history"].history) == ["loss", "val_loss"] and losses[1] < losses[0]
    assert ns["weight_shapes"] == [(3, 3, 1, 4), (4,), (3, 3, 4, 4), (4,), (3, 3, 4, 4), (4,),
                                   (3, 3, 4, 4), (4,), (3, 3, 4, 1), (1,)]


@needs_data
def test_classification_tutorial(tmp_path):
    ns = run(CLASSIFICATION_TUTORIAL, tmp_path)
    assert ns["test_acc"] > 0.5
    logits, probs = ns["logits"], ns["predictions"]
    softmax = np.exp(logits - logits.max(1, keepdims=True))
    np.testing.assert_allclose(probs, softmax / softmax.sum(1, keepdims=True), rtol=1e-5,
                               atol=1e-7)
    np.testing.assert_allclose(ns["single"][0], probs[1], rtol=1e-5, atol=1e-7)


def test_custom_layers_save_and_load(tmp_path):
    ns = run(CUSTOM_LAYERS, tmp_path)
    assert ns["copy_units"] == 64 and ns["half_factor"] == 0.5
    np.testing.assert_allclose(ns["after"], ns["before"], rtol=1e-6)


def test_callback_docstring_examples(tmp_path):
    ns = run(CALLBACK_DOCS, tmp_path)
    assert ns["start_rate"] == pytest.approx(0.01)
    assert ns["end_rate"] == pytest.approx(0.01 * np.exp(-0.3), rel=1e-5)
    assert ns["rates"].history["learning_rate"] == pytest.approx(
        [0.01, 0.01, 0.01 * np.exp(-0.1), 0.01 * np.exp(-0.2), 0.01 * np.exp(-0.3)], rel=1e-5)
    with open(tmp_path / "training.log") as f:
        rows = list(csv.reader(f))
    # as Keras: val_ columns even without validation data, filled with NA
    assert rows[0] == ["epoch", "loss", "val_loss"] and [r[2] for r in rows[1:]] == ["NA", "NA"]
    lines = (tmp_path / "loss_log.json").read_text().splitlines()
    assert [sorted(json.loads(line)) for line in lines] == [["epoch", "loss"]] * 3


def test_pydataset_sequence_and_batch_methods(tmp_path):
    ns = run(DATASETS_AND_BATCHES, tmp_path)
    assert len(ns["feed"]) == 3
    assert sorted(ns["feed_history"].history) == ["accuracy", "loss", "val_accuracy", "val_loss"]
    assert len(ns["feed_eval"]) == 2 and ns["feed_pred"].shape == (40, 10)
    assert ns["sequence_epochs"] == 1 and ns["batch_pred"].shape == (4, 10)


def test_train_on_batch_returns_the_metrics_too(tmp_path):
    ns = run(DATASETS_AND_BATCHES, tmp_path)
    assert len(ns["losses"][-1]) == 2 and len(ns["test_logs"]) == 2


def test_overfit_tutorial_regularizers_and_schedules(tmp_path):
    ns = run(OVERFIT_TUTORIAL, tmp_path)
    for history in ns["histories"].values():
        assert sorted(history.history) == ["accuracy", "binary_crossentropy", "loss",
                                           "val_accuracy", "val_binary_crossentropy", "val_loss"]
    # the l2 model's training loss holds 0.001 * sum(kernel^2) over both kernels
    model = ns["l2_model"]
    x, y = ns["features"][:64], ns["labels"][:64]
    data_loss = model.evaluate(x, y, verbose=0, batch_size=64)[1]   # the metric, no penalty
    penalty = 0.001 * sum(float(np.sum(np.square(k))) for k in ns["l2_kernels"])
    assert model.evaluate(x, y, verbose=0, batch_size=64)[0] == \
        pytest.approx(data_loss + penalty, rel=1e-4)


# --- beside Keras 3 itself ---------------------------------------------------------------------

STRUCTURE = {   # script -> expression over its variables, compared with Keras's
    "sequential": (SEQUENTIAL_GUIDE, "[weights_after, n_lazy_weights, feature_shapes, "
                   "middle_shape, n_trainable, n_frozen, n_after_pop]"),
}


@pytest.mark.skipif(importlib.util.find_spec("keras") is None, reason=KERAS_INSTALL)
def test_same_structure_as_keras(tmp_path):
    # Keras runs in a child process: importing it (and JAX) here would change the BLAS
    # thread pools the later tests of this process see
    for name, (script, expression) in STRUCTURE.items():
        (tmp_path / name).mkdir()
        child = "import keras\nassert keras.__version__.startswith('3.')\n" + \
            as_written_for_keras(script) + (
            f"\nimport json as _json\nprint(_json.dumps({expression}, default=lambda v: "
            "v.tolist() if hasattr(v, 'tolist') else list(v)))\n")
        done = subprocess.run([sys.executable, "-c", child], cwd=tmp_path / name,
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "KERAS_BACKEND": "jax"})
        assert done.returncode == 0, done.stderr[-2000:]
        theirs = json.loads(done.stdout.strip().splitlines()[-1])
        mine = run(script, tmp_path / name)
        assert _plain(eval(expression, mine)) == theirs, name


def _plain(value):
    """Lists of tuples of ints (Keras's shapes hold Python ints, ours too)."""
    return json.loads(json.dumps(value, default=lambda v: v.tolist() if hasattr(v, "tolist")
                                 else list(v)))
