// Placeholder: filled in by the kernel work in progress.
