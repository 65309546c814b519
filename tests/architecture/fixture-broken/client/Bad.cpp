// A client file that reaches into the daemon: the rule must catch it.
#include "core/Thing.hpp"
#include "store/SqliteEventStore.hpp"
