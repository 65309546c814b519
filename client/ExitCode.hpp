// SPDX-License-Identifier: MIT
#pragma once

namespace porteye::cli {

/// porteyectl's documented exit statuses (see porteyectl(1) and the README).
enum ExitCode : int {
    kExitOk = 0,
    kExitFailure = 1,        ///< an operation failed (netlink error, bad reply, ...)
    kExitUsage = 2,          ///< bad command line
    kExitNoSuchProcess = 3,  ///< the PID to watch does not exist
    kExitProcessExited = 4,  ///< the watched PID exited while being watched
    kExitUnavailable = 5,    ///< porteyed cannot be reached
    kExitAccessDenied = 6,   ///< the daemon refused the request
    kExitTimeout = 7,        ///< `wait`: the port did not reach the state asked for within --timeout
    kExitNotHeld = 8,        ///< `who`: nothing (that the caller may see) holds the port
};

}  // namespace porteye::cli
