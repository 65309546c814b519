// SPDX-License-Identifier: MIT
#pragma once

#include "core/ExpectedListeners.hpp"

namespace porteye::journal {

/// One warning entry in the journal per alert, with the PORTEYE_* fields; on stderr as well
/// when porteyed's log does not go to the journal already (a foreground run, the tests).
void journalUnexpected(const core::UnexpectedListener& alert);

}  // namespace porteye::journal
