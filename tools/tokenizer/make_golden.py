#!/usr/bin/python3
"""Writes the SentencePiece golden vectors the Java tests compare against.

Run with Debian's SentencePiece (apt-get install python3-sentencepiece), from the project root:
    /usr/bin/python3 tools/tokenizer/make_golden.py ../shared/assets \
        models/src/test/resources/tokenizer/sentencepiece-golden.json

For each tokenizer.model (Llama 2, stories260K, and the test model of make_test_model.py) it records, for every string of golden_inputs.json, the ids
SentencePiece encodes it to (no BOS/EOS) and the text SentencePiece decodes those ids to; and, for each id
sequence of decode_cases.json (byte runs that are valid, truncated or invalid UTF-8, control and unknown
ids), the decoded text.
"""
import json
import os
import sys

import sentencepiece

HERE = os.path.dirname(os.path.abspath(__file__))
# Model name -> path: the shared models, and the test model of make_test_model.py (user-defined and
# unused pieces), which lives in the test resources.
MODELS = {
    "llama2-tokenizer": "{assets}/llama2-tokenizer/tokenizer.model",
    "stories260K": "{assets}/stories260K/tokenizer.model",
    "user-defined-bpe": os.path.join(HERE, "../../models/src/test/resources/tokenizer/user-defined-bpe.model"),
}


def expand(sp, items):
    ids = []
    for item in items:
        if item == "bos":
            ids.append(sp.bos_id())
        elif item == "eos":
            ids.append(sp.eos_id())
        elif item == "unk":
            ids.append(sp.unk_id())
        elif item.startswith("piece:"):
            piece = item[len("piece:"):]
            pid = sp.piece_to_id(piece)
            assert pid != sp.unk_id(), piece
            ids.append(pid)
        elif item.startswith("text:"):
            ids.extend(sp.encode(item[len("text:"):]))
        else:
            raise ValueError(item)
    return ids


def main(assets, output):
    with open(os.path.join(HERE, "golden_inputs.json"), encoding="utf-8") as f:
        inputs = json.load(f)
    with open(os.path.join(HERE, "decode_cases.json"), encoding="utf-8") as f:
        decode_cases = json.load(f)
    golden = {"generator": "sentencepiece " + sentencepiece.__version__, "models": {}}
    for name, model_file in MODELS.items():
        sp = sentencepiece.SentencePieceProcessor(model_file=model_file.format(assets=assets))
        encode = []
        for text in inputs:
            ids = sp.encode(text)
            encode.append({"text": text, "ids": ids, "decoded": sp.decode(ids)})
        decode = []
        for items in decode_cases:
            ids = expand(sp, items)
            decode.append({"ids": ids, "text": sp.decode(ids)})
        golden["models"][name] = {"encode": encode, "decode": decode}
    with open(output, "w", encoding="utf-8") as f:
        json.dump(golden, f, ensure_ascii=True, indent=None, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
