// Placeholder while this part is being written.
int main() { return 1; }
