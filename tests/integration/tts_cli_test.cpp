// Placeholder while this part is being written.
#include <gtest/gtest.h>
