// Placeholder: filled in by the Neuralink work in progress.
