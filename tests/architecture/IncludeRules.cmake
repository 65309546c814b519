# SPDX-License-Identifier: MIT
# The include rules of docs/architecture.md, checked on the sources:
#   - nothing in client/ includes a file of the daemon (daemon/porteyed/);
#   - nothing in the library (daemon/lib/) includes a file of the daemon.
# The daemon's include root is daemon/porteyed, so its files are named "bus/...", "store/...",
# "Daemon.hpp": an include is the daemon's when its path exists under daemon/porteyed and not
# under the library's root, the including file's folder or client/. Spelled-out paths
# ("porteyed/...", "daemon/...") are refused outright.
#
#   cmake -DROOT=<source dir> -P IncludeRules.cmake     (exit status 1 and a list when broken)
if(NOT DEFINED ROOT)
  message(FATAL_ERROR "pass -DROOT=<source dir>")
endif()

set(daemon_root "${ROOT}/daemon/porteyed")
set(library_root "${ROOT}/daemon/lib")
set(client_root "${ROOT}/client")

file(GLOB_RECURSE client_files "${client_root}/*.cpp" "${client_root}/*.hpp" "${client_root}/*.h")
file(GLOB_RECURSE library_files "${library_root}/*.cpp" "${library_root}/*.hpp" "${library_root}/*.h" "${library_root}/*.c")

set(violations "")
function(check_file file own_root)
  file(STRINGS "${file}" lines REGEX "^[ \t]*#[ \t]*include[ \t]*\"")
  get_filename_component(dir "${file}" DIRECTORY)
  file(RELATIVE_PATH shown "${ROOT}" "${file}")
  foreach(line IN LISTS lines)
    string(REGEX REPLACE "^[ \t]*#[ \t]*include[ \t]*\"([^\"]+)\".*" "\\1" path "${line}")
    set(bad FALSE)
    if(path MATCHES "(^|/)porteyed/" OR path MATCHES "^daemon/")
      set(bad TRUE)
    elseif(EXISTS "${daemon_root}/${path}" AND NOT EXISTS "${library_root}/${path}"
           AND NOT EXISTS "${dir}/${path}" AND NOT EXISTS "${own_root}/${path}")
      set(bad TRUE)
    endif()
    if(bad)
      string(APPEND violations "  ${shown}: #include \"${path}\" is the daemon's\n")
    endif()
  endforeach()
  set(violations "${violations}" PARENT_SCOPE)
endfunction()

foreach(file IN LISTS client_files)
  check_file("${file}" "${client_root}")
endforeach()
foreach(file IN LISTS library_files)
  check_file("${file}" "${library_root}")
endforeach()

list(LENGTH client_files client_count)
list(LENGTH library_files library_count)
if(NOT violations STREQUAL "")
  message("Include rules broken (docs/architecture.md, \"What may include what\"):\n${violations}")
  message(FATAL_ERROR "client/ and daemon/lib/ may include the library, never daemon/porteyed/")
endif()
message(STATUS "include rules hold: ${client_count} client files, ${library_count} library files")
