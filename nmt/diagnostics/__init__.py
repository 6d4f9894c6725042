"""Looking inside the recurrent models: gradients through time, training curves."""
