"""Special token ids, fixed for every tokenizer, model and search.

SentencePiece models are trained with exactly these ids, so a model never needs a vocabulary
file to know them.
"""

PAD_ID = 0  # padding; ignored by the loss and masked by attention
UNK_ID = 1  # unknown piece
BOS_ID = 2  # first decoder input
EOS_ID = 3  # end of sentence; the decoder stops after emitting it

PAD_PIECE, UNK_PIECE, BOS_PIECE, EOS_PIECE = "<pad>", "<unk>", "<s>", "</s>"
