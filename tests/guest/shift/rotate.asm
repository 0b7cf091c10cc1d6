; ROL/ROR/RCL/RCR change only CF and OF; RCL on a byte rotates count mod 9
; through CF. Flags in r8..r12. SDM Vol. 2B, RCL/RCR/ROL/ROR.
; mode: long
; expect: rax=3 rbx=0x80 rdx=1 rsi=0 rdi=1
; expect: r8=0x847 r9=0x847 r10=0x847 r11=0x47 r12=0x46
; expect-exit: hlt
bits 64
org 0x10000
  xor ecx, ecx                 ; flags := ZF PF
  mov al, 0x81
  rol al, 1                    ; 0x03: CF, OF = MSB ^ CF
  pushfq
  pop r8
  mov bl, 0x01
  ror bl, 1                    ; 0x80: CF, OF = top two bits differ
  pushfq
  pop r9
  stc
  mov dl, 0x80
  rcl dl, 1                    ; 0x01: CF = old MSB, OF
  pushfq
  pop r10
  clc
  mov sil, 0x01
  rcr sil, 1                   ; 0: CF, OF clear
  pushfq
  pop r11
  clc
  mov edi, 1
  mov cl, 9
  rcl dil, cl                  ; 9 mod 9 = 0: nothing changes
  pushfq
  pop r12
  hlt
