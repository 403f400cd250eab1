"""Game logic kept out of the HTTP layer: players, stimuli, sampling, guessing, scoring, rounds."""
