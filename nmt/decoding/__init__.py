"""From a trained model to text: greedy and beam search over the step interface, the `Translator`
(the one text-to-text path), vocabulary shortlists, int8 quantization and attention alignments."""
