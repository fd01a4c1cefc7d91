"""The types every layer shares, importing nothing of the project above them: errors, settings,
candidates (and the generator protocol), and the typed events with the bus that carries them."""
