// SPDX-License-Identifier: MIT
#pragma once

#include "core/ExpectedListeners.hpp"

namespace porteye::journal {

/// MESSAGE_ID of "a listener no rule expects" (systemd/porteye-unexpected.catalog).
inline constexpr const char* kUnexpectedListenerMessageId = "f2171843a52249f9a437052bbbf08f86";

/// One warning entry in the journal per alert, with the PORTEYE_* fields; on stderr as well
/// when porteyed's log does not go to the journal already (a foreground run, the tests).
void journalUnexpected(const core::UnexpectedListener& alert);

}  // namespace porteye::journal
