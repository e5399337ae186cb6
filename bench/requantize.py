"""Requantize a GGUF's weight tensors to another type (Q8_0 / Q4_0 / BF16), metadata copied: the quantization
lever of ``bench answer --levers model=PATH``. Needs ``pip install gguf`` (not a dependency of newsrag).

    python bench/requantize.py SRC.gguf DST.gguf Q8_0

Measured 2026-12-06 from Qwen2.5-Coder-0.5B Q4_K_M (README, "Defaults chosen by measurement"): neither
variant was kept. Requantizing an already 4-bit model adds its own rounding: Q4_0 lost citation precision.
"""

from __future__ import annotations

import sys

# llama.cpp's general.file_type codes of the targets
FILE_TYPE = {"Q8_0": 7, "Q4_0": 2, "BF16": 32}


def requantize(src: str, dst: str, target_name: str) -> None:
    import gguf
    import numpy as np
    from gguf.quants import dequantize, quantize

    target = gguf.GGMLQuantizationType[target_name]
    reader = gguf.GGUFReader(src)
    writer = gguf.GGUFWriter(dst, reader.fields["general.architecture"].contents())
    for field in reader.fields.values():
        if field.name == gguf.Keys.General.ARCHITECTURE or field.name.startswith("GGUF."):
            continue  # written by GGUFWriter itself
        kind = field.types[0]
        sub = field.types[-1] if kind == gguf.GGUFValueType.ARRAY else None
        value = FILE_TYPE[target_name] if field.name == "general.file_type" else field.contents()
        writer.add_key_value(field.name, value, kind, sub_type=sub)
    for t in reader.tensors:
        if t.tensor_type in (gguf.GGMLQuantizationType.F32, gguf.GGMLQuantizationType.F16) or len(t.shape) < 2:
            writer.add_tensor(t.name, np.array(t.data), raw_dtype=t.tensor_type)  # norms and biases stay
            continue
        weights = dequantize(t.data, t.tensor_type)  # float32
        writer.add_tensor(t.name, quantize(weights, target), raw_dtype=target)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[3] not in FILE_TYPE:
        sys.exit(__doc__)
    requantize(*sys.argv[1:4])
    print("wrote", sys.argv[2])
