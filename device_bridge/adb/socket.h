// Placeholder while this part is being written.
#pragma once
