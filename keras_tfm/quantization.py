"""int8 quantization of a model through Keras' own: its Dense and Embedding layers' ``quantize("int8")``.

Keras stores an int8 kernel with one float scale per output channel (an embedding: per row);
by default a Dense layer also quantizes its inputs per token at each call (int8 x int8 matmul),
``weight_only=True`` keeps the inputs in float (the kernel is dequantized in the matmul).
Norms, convolutions and biases stay in float.

The model's config records what was done (``quantization_config``), so that a model saved with
``save_pretrained(format="keras")`` is quantized again as an empty skeleton, then filled with the
saved int8 values, when ``from_pretrained`` reads it back: the float weights are not needed and
nothing is re-quantized.
"""

import keras

QUANT_METHOD = "keras"


def quantization_settings(value):
    """``quantization_config`` as given (``"int8"``, a dict, or a config's stored dict) ->
    ``{"quant_method": "keras", "mode": "int8", "weight_only": bool}``."""
    if isinstance(value, str):
        value = {"mode": value}
    if not isinstance(value, dict):
        raise TypeError(f"quantization_config={value!r}: pass 'int8' or a dict such as "
                        "{'mode': 'int8', 'weight_only': True}.")
    method = value.get("quant_method", QUANT_METHOD)
    if method != QUANT_METHOD:
        raise ValueError(f"quantization_config quant_method={method!r} is not supported: keras_tfm reads Keras' own "
                         f"int8 quantization (quant_method={QUANT_METHOD!r}), not bitsandbytes / GPTQ / AWQ checkpoints.")
    unknown = sorted(set(value) - {"quant_method", "mode", "weight_only"})
    if unknown:
        raise ValueError(f"quantization_config: unknown keys {unknown}; known: mode, weight_only.")
    if value.get("mode", "int8") != "int8":
        raise ValueError(f"quantization_config mode={value.get('mode')!r}: keras_tfm supports mode='int8'.")
    return {"quant_method": QUANT_METHOD, "mode": "int8", "weight_only": bool(value.get("weight_only", False))}


def quantize_model(model, settings):
    """Quantizes ``model``'s Dense and Embedding layers in place as ``settings`` say, records
    ``settings`` in its config, and drops its compiled generation steps (they read the old weights)."""
    model.build_weights()
    layers = [layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if isinstance(layer, (keras.layers.Dense, keras.layers.Embedding))]
    if any(layer.quantization_mode for layer in layers):  # the layers, not the config, say what is done
        raise ValueError(f"{type(model).__name__} is already quantized ({model.config.quantization_config}).")
    config = keras.quantizers.Int8QuantizationConfig(activation_quantizer=None) if settings["weight_only"] else None
    for layer in layers:
        layer.quantize("int8", type_check=False, config=config)
    model.config.quantization_config = dict(settings)
    from keras_tfm.generation.steppers import forget_stepper  # generation imports the models, which import this

    forget_stepper(model)
    return model
