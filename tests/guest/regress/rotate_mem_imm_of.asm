; ROL/ROR with a memory destination and an imm8 count other than 1 compute
; OF with the count-1 formula, as the CL forms do (the register forms with
; an imm8 leave OF unchanged: that quirk is the register form's only).
; Host CPU and /dev/kvm agree. Found by the differential fuzzer; fixed in
; exec/shift.h. OF after each rotate in r8..r11 (RFLAGS & 0x801).
; mode: long
; expect: r8=0x800 r9=0x800 r10=0x0 r11=0x800
; expect-mem: 0x11000 = 20 00 00 00 0c 00 00 00 30 00 00 00 00 00 80 00
; expect-exit: hlt
bits 64
org 0x10000
  mov rbx, 0x11000
  mov dword [rbx], 0x01
  mov dword [rbx+4], 0x81
  mov dword [rbx+8], 0x81
  mov dword [rbx+12], 0x00000001
  push qword 0x202
  popfq
  ror byte [rbx], 3            ; 0x01 -> 0x20: OF = 1^0 = 1
  pushfq
  pop r8
  rol byte [rbx+4], 3          ; 0x81 -> 0x0c: OF = 1^0 = 1, CF = 0
  pushfq
  pop r9
  and r8, 0x801
  and r9, 0x801
  push qword 0xa03
  popfq
  ror byte [rbx+8], 3          ; 0x81 -> 0x30: OF = 1^1 = 0, CF = 0
  pushfq
  pop r10
  and r10, 0x801
  ror dword [rbx+12], 9        ; 1 -> 0x00800000: OF = 1^0 = 1, CF = 0
  pushfq
  pop r11
  and r11, 0x801
  hlt
