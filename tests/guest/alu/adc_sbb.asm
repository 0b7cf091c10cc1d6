; ADC and SBB consume CF; flags after each in r8..r11.
; SDM Vol. 2A, ADC; Vol. 2B, SBB.
; mode: long
; expect: rax=0 rbx=0x30 rcx=0xffffffff rdx=0
; expect: r8=0x57 r9=0x6 r10=0x97 r11=0x46
; expect-exit: hlt
bits 64
org 0x10000
  stc
  mov al, 0xfe
  adc al, 1                    ; 0xfe+1+1 = 0x100: CF ZF AF PF
  pushfq
  pop r8
  clc
  mov bx, 0x10
  adc bx, 0x20                 ; 0x30: PF
  pushfq
  pop r9
  stc
  mov ecx, 0
  sbb ecx, 0                   ; -1: CF SF AF PF
  pushfq
  pop r10
  stc
  mov rdx, 5
  sbb rdx, 4                   ; 0: ZF PF
  pushfq
  pop r11
  hlt
