// The library must not include the daemon either.
#include "porteyed/store/SqliteEventStore.hpp"
