// Placeholder while this part is being written.
