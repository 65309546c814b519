// SPDX-License-Identifier: MIT
#pragma once

#include <span>
#include <string_view>

namespace porteye::web {

/// A static file of the page, compiled into porteyectl (client/web/assets, embedded at build time
/// by cmake/EmbedAssets.cmake), so the page needs no files on disk and no CDN.
struct Asset {
    std::string_view path;         ///< URL path, e.g. "/app.js"
    std::string_view contentType;  ///< e.g. "text/javascript; charset=utf-8"
    std::string_view body;
};

std::span<const Asset> assets();

}  // namespace porteye::web
