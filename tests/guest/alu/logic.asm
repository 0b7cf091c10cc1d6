; AND, OR, XOR clear CF and OF and set SF/ZF/PF from the result (AF is
; undefined: the value is whatever the host CPU produces). Flags in r8..r11.
; SDM Vol. 2A, AND; Vol. 2B, OR, XOR.
; mode: long
; expect: rax=0x30 rbx=0x8001 rcx=0 rdx=0xffffffffffff0000
; expect: r8=0x6 r9=0x82 r10=0x46 r11=0x6
; expect-exit: hlt
bits 64
org 0x10000
  mov al, 0xf0
  stc
  and al, 0x3c                 ; 0x30: PF
  pushfq
  pop r8
  mov bx, 0x8000
  or bx, 1                     ; 0x8001: SF
  pushfq
  pop r9
  mov rcx, 0x123456789
  xor rcx, rcx                 ; 0: ZF PF
  pushfq
  pop r10
  mov rdx, -1
  xor edx, 0xffff0000          ; 0x0000ffff, zero-extended into rdx
  not rdx                      ; NOT changes no flag
  pushfq
  pop r11                      ; flags of the XOR (0x0000ffff): PF
  hlt
