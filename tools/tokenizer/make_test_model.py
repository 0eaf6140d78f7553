#!/usr/bin/python3
"""Trains the small SentencePiece BPE model that tests user-defined and unused pieces.

Neither shared tokenizer.model has USER_DEFINED or UNUSED pieces, so this trains one (Debian's
python3-sentencepiece and python3-protobuf), from the project root:
    /usr/bin/python3 tools/tokenizer/make_test_model.py models/src/test/resources/tokenizer/user-defined-bpe.model
It has user-defined symbols "<tool>" and "[X]", byte fallback, and SentencePiece's default normalization
flags (extra whitespace removed); afterwards the pieces "ing" and "▁th" are marked UNUSED, so that
SentencePiece forms them while merging but splits them back into their parts at the end.
"""
import io
import sys

import sentencepiece
from sentencepiece import sentencepiece_model_pb2

SENTENCES = [
    "the cat sat on the mat while the other cat was sleeping",
    "there is nothing like reading a thing that is interesting",
    "we were thinking of bringing something to the meeting",
    "call <tool> to run the [X] thing, then stop the <tool>",
    "numbers 123 and 4567 and 89 are things too",
    "singing and ringing, the king is bringing the ring",
]


def main(output):
    text = "\n".join(SENTENCES * 20)
    model = io.BytesIO()
    sentencepiece.SentencePieceTrainer.train(
        sentence_iterator=iter(text.split("\n")), model_writer=model, model_type="bpe", vocab_size=400,
        user_defined_symbols=["<tool>", "[X]"], byte_fallback=True, hard_vocab_limit=False, num_threads=1,
        character_coverage=1.0, normalization_rule_name="identity")
    proto = sentencepiece_model_pb2.ModelProto()
    proto.ParseFromString(model.getvalue())
    marked = 0
    for piece in proto.pieces:
        if piece.piece in ("ing", "\u2581th"):
            piece.type = sentencepiece_model_pb2.ModelProto.SentencePiece.UNUSED
            marked += 1
    assert marked == 2, "expected the pieces 'ing' and '▁th' in the trained model"
    with open(output, "wb") as f:
        f.write(proto.SerializeToString())


if __name__ == "__main__":
    main(sys.argv[1])
