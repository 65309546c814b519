# SPDX-License-Identifier: MIT
# porteye_install_system_files(DIR <cache var> SYSTEM <dir> FALLBACK <dir> FILES <f>... [RENAME <name>])
#
# Installs files whose directory depends on the prefix chosen at *install*
# time, not at configure time: cpack installs with /usr (CPACK_SET_DESTDIR)
# whatever CMAKE_INSTALL_PREFIX the build tree was configured with, and a
# `cmake --install --prefix /tmp/x` must never write into the host's /lib or /etc.
#   - the cache variable <DIR>, when set, wins (relative: under the prefix);
#   - installing to /usr: SYSTEM (an absolute path, e.g. from systemd.pc: /lib/systemd/system, /etc/porteye);
#   - any other prefix: <prefix>/FALLBACK.
# DESTDIR is honoured (file(INSTALL) prepends it), and the files land in the install manifest.
function(porteye_install_system_files)
  cmake_parse_arguments(ARG "" "DIR;SYSTEM;FALLBACK;RENAME" "FILES" ${ARGN})
  set(files)
  foreach(f IN LISTS ARG_FILES)
    if(NOT IS_ABSOLUTE "${f}")
      set(f "${CMAKE_CURRENT_SOURCE_DIR}/${f}")
    endif()
    string(APPEND files " \"${f}\"")
  endforeach()
  set(rename "")
  if(ARG_RENAME)
    set(rename "RENAME \"${ARG_RENAME}\"")
  endif()
  install(CODE "
    set(_dir \"${${ARG_DIR}}\")
    if(_dir AND NOT IS_ABSOLUTE \"\${_dir}\")
      set(_dir \"\${CMAKE_INSTALL_PREFIX}/\${_dir}\")
    elseif(NOT _dir AND CMAKE_INSTALL_PREFIX STREQUAL \"/usr\")
      set(_dir \"${ARG_SYSTEM}\")
    elseif(NOT _dir)
      set(_dir \"\${CMAKE_INSTALL_PREFIX}/${ARG_FALLBACK}\")
    endif()
    file(INSTALL DESTINATION \"\${_dir}\" TYPE FILE PERMISSIONS OWNER_READ OWNER_WRITE GROUP_READ WORLD_READ
         FILES ${files} ${rename})
  ")
endfunction()
